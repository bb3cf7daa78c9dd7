/* quant.h — the output formats of `labse encode --format` (issue 12 §5): float32 rows
 * converted to float16, bfloat16, int8 with per-dimension ranges, or packed sign bits
 * (ubinary, binary), as sentence-transformers' quantize_embeddings does; the int8 calibration
 * (ranges from a .npy of embeddings, or from rows); the CPU reference of every conversion.
 * Every conversion of an output row happens here (io/npy.c's writer calls lb_quant_rows).
 *
 *   format   .npy descr  cols      bytes/row (dim 768)   value of row x (float32, dim d)
 *   float32  '<f4'       d         3072                  x
 *   float16  '<f2'       d         1536                  round-to-nearest-even binary16
 *   bfloat16 '<u2'       d         1536                  the top 16 bits of x rounded to
 *                                                        nearest even: the raw bf16 bits
 *                                                        (numpy has no bf16 dtype)
 *   int8     '|i1'       d          768                  per dimension j, with lo/hi the
 *            min/max of the calibration rows: step = (hi - lo) / 255 and
 *            q = trunc((x - lo) / step - 128), all in float32 (float16 steps when the ranges
 *            came from float16 rows, as numpy computes them); clamped to -128..127 (numpy's
 *            astype(int8) wraps or is undefined outside; a constant dimension, step 0, gives
 *            -128 at or below lo and 127 above)
 *   ubinary  '|u1'       d/8         96                  numpy.packbits(x > 0): bit 7 of
 *                                                        byte k is x[8k] > 0
 *   binary   '|i1'       d/8         96                  ubinary - 128 as int8
 *
 * Not part of the public API. Internal names start with lb_. Pure functions unless said;
 * all thread-safe (an lb_qcalib is read-only once made).
 */
#ifndef LB_QUANT_H
#define LB_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "labse.h"
#include "io/npy.h"

/* The values match labse_dtype (include/labse.h). */
typedef enum lb_qformat {
    LB_Q_F32 = 0,
    LB_Q_F16 = 1,
    LB_Q_BF16 = 2,
    LB_Q_INT8 = 3,
    LB_Q_UBINARY = 4,
    LB_Q_BINARY = 5
} lb_qformat;

#define LB_Q_COUNT 6

/* The manifest's name of f ("float32", "float16", "bfloat16", "int8", "ubinary", "binary");
 * NULL for an unknown value. */
const char *lb_qformat_name(lb_qformat f);

/* The format named s (a manifest name above, or the CLI's f32 f16 bf16 int8 ubinary binary).
 * 1 and *f set, or 0. */
int lb_qformat_parse(const char *s, lb_qformat *f);

/* The .npy element type of f's files. */
lb_npy_dtype lb_qformat_npy(lb_qformat f);

/* Columns of f's files for embeddings of dim d (d, or d / 8 for the packed bits). */
uint64_t lb_qformat_cols(lb_qformat f, uint64_t dim);

/* 1 for the formats mining cannot read (int8, ubinary, binary). */
int lb_qformat_quantised(lb_qformat f);

/* LABSE_OK when f can hold embeddings of dim d; LABSE_E_INVALID ("format ubinary packs 8
 * dimensions a byte: dim 12 is not a multiple of 8") for the packed formats and d % 8 != 0,
 * or an unknown f. */
labse_status lb_qformat_check(lb_qformat f, uint64_t dim, labse_error *err);

/* IEEE binary32 -> bfloat16 bits, round to nearest even; NaN stays a quiet NaN (sign
 * kept). Inline: the CPU encoder's bf16 GEMM inputs use it too (cpu/cpu_bf16.c). */
static inline uint16_t lb_bf16_from_f32(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* ------------------------------------------------------------------------------------------
 * int8 calibration: per-dimension ranges
 * ------------------------------------------------------------------------------------------ */

#define LB_QCALIB_SOURCE_MAX 1024

typedef struct lb_qcalib {
    size_t dim;                /* 0: no ranges (yet) */
    float *lo, *hi;            /* [dim] each, heap (lb_qcalib_free): min and max */
    int f16;                   /* 1: lo/hi are float16 values and the steps are computed in
                                  float16 (ranges of a float16 .npy, as numpy does) */
    uint64_t rows;             /* rows the ranges were taken from */
    char source[LB_QCALIB_SOURCE_MAX]; /* "first-window", or the .npy path given */
} lb_qcalib;

/* Free c's arrays and zero it. NULL is a no-op. */
void lb_qcalib_free(lb_qcalib *c);

/* *dst = a deep copy of *src (dst is overwritten, not freed first). 0, or -1 out of memory
 * (dst then zeroed). */
int lb_qcalib_copy(lb_qcalib *dst, const lb_qcalib *src);

/* 1 when a and b give the same int8 rows: same dim, f16 rule and ranges bit for bit (the
 * source and row count do not matter). */
int lb_qcalib_same(const lb_qcalib *a, const lb_qcalib *b);

/*
 * The ranges of n >= 1 float32 rows x[n, dim] (per dimension min and max), into *c (zeroed
 * first; caller frees with lb_qcalib_free). source: copied (NULL: ""). Errors:
 * LABSE_E_INVALID (n or dim 0, a non-finite value), LABSE_E_NOMEM.
 */
labse_status lb_qcalib_from_rows(const float *x, size_t n, size_t dim, const char *source,
                                 lb_qcalib *c, labse_error *err);

/*
 * The ranges of the embeddings in a float32 or float16 .npy (2-D, rows >= 1, cols == dim),
 * read in bounded chunks (memory O(dim), not O(rows)). A float16 file gives float16 ranges
 * (c->f16 = 1). source = path. Errors name the file: LABSE_E_IO, LABSE_E_FORMAT (not such a
 * .npy, wrong size), LABSE_E_INVALID (dim differs, no rows, a non-finite value),
 * LABSE_E_NOMEM. Reentrant.
 */
labse_status lb_qcalib_load(const char *path, size_t dim, lb_qcalib *c, labse_error *err);

/* ------------------------------------------------------------------------------------------
 * Conversion
 * ------------------------------------------------------------------------------------------ */

/*
 * Convert n float32 rows x[n, dim] to format f into out, which holds
 * n * lb_qformat_cols(f, dim) elements of lb_qformat_npy(f) (host byte order). c: the
 * ranges for LB_Q_INT8 (c->dim == dim; ignored otherwise). Caller checked f and dim with
 * lb_qformat_check. Pure; thread-safe.
 */
void lb_quant_rows(lb_qformat f, const lb_qcalib *c, const float *x, size_t n, size_t dim,
                   void *out);

#endif
