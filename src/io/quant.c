/* quant.c — output formats, int8 calibration and the row conversions (see quant.h). */
#include "io/quant.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/common.h"
#include "base/half.h"

static const char *const k_names[LB_Q_COUNT] = {"float32", "float16", "bfloat16",
                                                "int8",    "ubinary", "binary"};
static const char *const k_short[LB_Q_COUNT] = {"f32", "f16", "bf16", "int8", "ubinary", "binary"};

const char *lb_qformat_name(lb_qformat f) {
    return (unsigned)f < LB_Q_COUNT ? k_names[f] : NULL;
}

int lb_qformat_parse(const char *s, lb_qformat *f) {
    for (int i = 0; s && i < LB_Q_COUNT; i++)
        if (strcmp(s, k_names[i]) == 0 || strcmp(s, k_short[i]) == 0) {
            *f = (lb_qformat)i;
            return 1;
        }
    return 0;
}

lb_npy_dtype lb_qformat_npy(lb_qformat f) {
    switch (f) {
    case LB_Q_F16: return LB_NPY_F16;
    case LB_Q_BF16: return LB_NPY_BF16;
    case LB_Q_INT8: return LB_NPY_I8;
    case LB_Q_UBINARY: return LB_NPY_U8;
    case LB_Q_BINARY: return LB_NPY_I8;
    case LB_Q_F32: break;
    }
    return LB_NPY_F32;
}

uint64_t lb_qformat_cols(lb_qformat f, uint64_t dim) {
    return f == LB_Q_UBINARY || f == LB_Q_BINARY ? dim / 8 : dim;
}

int lb_qformat_quantised(lb_qformat f) {
    return f == LB_Q_INT8 || f == LB_Q_UBINARY || f == LB_Q_BINARY;
}

labse_status lb_qformat_check(lb_qformat f, uint64_t dim, labse_error *err) {
    if (!lb_qformat_name(f)) return lb_err(err, LABSE_E_INVALID, "format %d is unknown", (int)f);
    if ((f == LB_Q_UBINARY || f == LB_Q_BINARY) && (dim == 0 || dim % 8 != 0))
        return lb_err(err, LABSE_E_INVALID,
                      "format %s packs 8 dimensions a byte: the model's dim %" PRIu64
                      " is not a multiple of 8",
                      k_names[f], dim);
    return LABSE_OK;
}

/* ==========================================================================================
 * Calibration
 * ========================================================================================== */

void lb_qcalib_free(lb_qcalib *c) {
    if (!c) return;
    free(c->lo);
    free(c->hi);
    memset(c, 0, sizeof *c);
}

/* Allocate c's arrays for dim (c zeroed first). 0 or -1. */
static int calib_alloc(lb_qcalib *c, size_t dim) {
    memset(c, 0, sizeof *c);
    c->lo = malloc(dim * sizeof *c->lo);
    c->hi = malloc(dim * sizeof *c->hi);
    if (!c->lo || !c->hi) {
        lb_qcalib_free(c);
        return -1;
    }
    c->dim = dim;
    return 0;
}

int lb_qcalib_copy(lb_qcalib *dst, const lb_qcalib *src) {
    if (!src->dim) {
        *dst = *src;
        dst->lo = dst->hi = NULL;
        return 0;
    }
    if (calib_alloc(dst, src->dim) != 0) return -1;
    memcpy(dst->lo, src->lo, src->dim * sizeof *dst->lo);
    memcpy(dst->hi, src->hi, src->dim * sizeof *dst->hi);
    dst->f16 = src->f16;
    dst->rows = src->rows;
    memcpy(dst->source, src->source, sizeof dst->source);
    return 0;
}

int lb_qcalib_same(const lb_qcalib *a, const lb_qcalib *b) {
    if (a->dim != b->dim || a->f16 != b->f16) return 0;
    return a->dim == 0 || (memcmp(a->lo, b->lo, a->dim * sizeof *a->lo) == 0 &&
                           memcmp(a->hi, b->hi, a->dim * sizeof *a->hi) == 0);
}

/* Fold n rows x[n, dim] into the running min/max (first: initialise from row 0). -1 when a
 * value is not finite. */
static int fold_rows(lb_qcalib *c, const float *x, size_t n, int first) {
    const size_t d = c->dim;
    for (size_t i = 0; i < n; i++) {
        const float *r = x + i * d;
        for (size_t j = 0; j < d; j++) {
            if (!isfinite(r[j])) return -1;
            if (first && i == 0) {
                c->lo[j] = c->hi[j] = r[j];
            } else {
                if (r[j] < c->lo[j]) c->lo[j] = r[j];
                if (r[j] > c->hi[j]) c->hi[j] = r[j];
            }
        }
    }
    return 0;
}

labse_status lb_qcalib_from_rows(const float *x, size_t n, size_t dim, const char *source,
                                 lb_qcalib *c, labse_error *err) {
    memset(c, 0, sizeof *c);
    if (!x || n == 0 || dim == 0)
        return lb_err(err, LABSE_E_INVALID, "int8 calibration: no rows");
    if (calib_alloc(c, dim) != 0) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    if (fold_rows(c, x, n, 1) != 0) {
        lb_qcalib_free(c);
        return lb_err(err, LABSE_E_INVALID, "int8 calibration: a row has a non-finite value");
    }
    c->rows = n;
    snprintf(c->source, sizeof c->source, "%s", source ? source : "");
    return LABSE_OK;
}

labse_status lb_qcalib_load(const char *path, size_t dim, lb_qcalib *c, labse_error *err) {
    memset(c, 0, sizeof *c);
    if (!path || dim == 0) return lb_err(err, LABSE_E_INVALID, "calibration: no path");
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    enum { CHUNK = 256 }; /* rows per read */
    unsigned char hdr[4096];
    float *rows = NULL;
    void *raw = NULL;
    size_t got = fread(hdr, 1, sizeof hdr, f);
    lb_npy_info in;
    labse_status s = lb_npy_parse_header(hdr, got, path, &in, err);
    if (s == LABSE_OK && in.dtype != LB_NPY_F32 && in.dtype != LB_NPY_F16)
        s = lb_err(err, LABSE_E_FORMAT, "%s: calibration embeddings must be float32 or float16",
                   path);
    if (s == LABSE_OK && (in.ndim != 2 || in.cols != dim || in.rows == 0))
        s = lb_err(err, LABSE_E_INVALID,
                   "%s: calibration embeddings of shape (%" PRIu64 ", %" PRIu64
                   "); want (rows >= 1, %zu)",
                   path, in.rows, in.cols, dim);
    size_t es = s == LABSE_OK ? lb_npy_dtype_size(in.dtype) : 0;
    if (s == LABSE_OK) {
        if (fseeko(f, 0, SEEK_END) != 0 ||
            (uint64_t)ftello(f) != in.data_offset + in.rows * in.cols * es)
            s = lb_err(err, LABSE_E_FORMAT, "%s: the file's size does not match its shape", path);
        else if (fseeko(f, (off_t)in.data_offset, SEEK_SET) != 0)
            s = lb_err(err, LABSE_E_IO, "%s: seek failed: %s", path, strerror(errno));
    }
    if (s == LABSE_OK) {
        rows = malloc((size_t)CHUNK * dim * sizeof *rows);
        raw = malloc((size_t)CHUNK * dim * es);
        if (!rows || !raw || calib_alloc(c, dim) != 0)
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    for (uint64_t r0 = 0; s == LABSE_OK && r0 < in.rows; r0 += CHUNK) {
        size_t n = in.rows - r0 < CHUNK ? (size_t)(in.rows - r0) : CHUNK;
        if (fread(raw, es, n * dim, f) != n * dim) {
            s = lb_err(err, LABSE_E_IO, "%s: short read", path);
            break;
        }
        const unsigned char *p = raw;
        for (size_t i = 0; i < n * dim; i++) { /* little-endian on disk */
            if (es == 4) {
                uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                             (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
                memcpy(&rows[i], &u, sizeof u);
            } else {
                rows[i] = lb_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            }
        }
        if (fold_rows(c, rows, n, r0 == 0) != 0)
            s = lb_err(err, LABSE_E_INVALID, "%s: row %" PRIu64 " or near has a non-finite value",
                       path, r0);
    }
    free(rows);
    free(raw);
    fclose(f);
    if (s != LABSE_OK) {
        lb_qcalib_free(c);
        return s;
    }
    c->f16 = in.dtype == LB_NPY_F16;
    c->rows = in.rows;
    snprintf(c->source, sizeof c->source, "%s", path);
    return LABSE_OK;
}

/* ==========================================================================================
 * Conversion
 * ========================================================================================== */

/* numpy's step of dimension j: (hi - lo) / 255 in float32, or in float16 (each operation
 * computed in float32 and rounded to float16, as numpy's half loops do). */
static float step_of(const lb_qcalib *c, size_t j) {
    if (!c->f16) return (c->hi[j] - c->lo[j]) / 255.0f;
    float d = lb_f16_to_f32(lb_f32_to_f16(c->hi[j] - c->lo[j]));
    return lb_f16_to_f32(lb_f32_to_f16(d / 255.0f));
}

/* One int8 value: trunc((x - lo) / step - 128) in float32, saturated to -128..127 (NaN,
 * from 0/0 on a constant dimension, gives -128). */
static inline int8_t int8_of(float x, float lo, float step) {
    float t = (x - lo) / step - 128.0f;
    t = t > -128.0f ? t : -128.0f; /* NaN too; branch-free: the loop vectorises */
    t = t < 127.0f ? t : 127.0f;
    return (int8_t)(int32_t)t; /* truncation toward zero, as astype */
}

void lb_quant_rows(lb_qformat f, const lb_qcalib *c, const float *x, size_t n, size_t dim,
                   void *out) {
    const size_t cnt = n * dim;
    switch (f) {
    case LB_Q_F32: memcpy(out, x, cnt * sizeof *x); break;
    case LB_Q_F16: lb_f32_to_f16_array(x, out, cnt); break;
    case LB_Q_BF16: {
        uint16_t *h = out;
        for (size_t i = 0; i < cnt; i++) h[i] = lb_bf16_from_f32(x[i]);
        break;
    }
    case LB_Q_INT8: { /* blocks of dimensions, rows in order: contiguous reads and writes */
        enum { BLK = 256 };
        float step[BLK];
        int8_t *q = out;
        for (size_t j0 = 0; j0 < dim; j0 += BLK) {
            const size_t nb = dim - j0 < BLK ? dim - j0 : BLK;
            for (size_t j = 0; j < nb; j++) step[j] = step_of(c, j0 + j);
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < nb; j++)
                    q[i * dim + j0 + j] = int8_of(x[i * dim + j0 + j], c->lo[j0 + j], step[j]);
        }
        break;
    }
    case LB_Q_UBINARY:
    case LB_Q_BINARY: {
        unsigned char *b = out;
        const unsigned flip = f == LB_Q_BINARY ? 0x80u : 0u; /* u - 128 as int8 == u ^ 0x80 */
        for (size_t i = 0; i < n; i++) {
            const float *r = x + i * dim;
            for (size_t k = 0; k < dim / 8; k++) {
                unsigned v = 0;
                for (int bit = 0; bit < 8; bit++) v = v << 1 | (r[8 * k + (size_t)bit] > 0.0f);
                b[i * (dim / 8) + k] = (unsigned char)(v ^ flip);
            }
        }
        break;
    }
    }
}
