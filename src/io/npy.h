/* npy.h — NumPy .npy files, format version 1.0, 2-D, C order, little-endian float32 ('<f4'),
 * float16 ('<f2'), bfloat16 bits ('<u2'), int8 ('|i1') or uint8 ('|u1'): the header exactly as numpy.lib.format writes it, the streaming writer
 * (over io/atomic_file.h: temporary name, fsync, rename) and a validating reader (tests,
 * tools; mining maps files through mine/mine_emb.h with lb_npy_parse_header()).
 *
 * Layout of a version 1.0 file:
 *   "\x93NUMPY" 0x01 0x00  <u16 little-endian HEADER_LEN>
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (ROWS, COLS), }" + spaces + "\n"
 *   ROWS * COLS elements, row-major.
 * The header text is padded with spaces so that 10 + HEADER_LEN is a multiple of 64, after
 * numpy's own 21 - digits(ROWS) spare spaces (so the row count can be rewritten in place).
 *
 * Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_NPY_H
#define LB_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "base/digest.h"

typedef enum lb_npy_dtype {
    LB_NPY_F32 = 0,   /* '<f4' */
    LB_NPY_F16 = 1,   /* '<f2' (IEEE half, stored as uint16_t) */
    LB_NPY_BF16 = 2,  /* '<u2': bfloat16 bit patterns (numpy has no bf16 dtype; a '<u2' file
                         is read as bfloat16) */
    LB_NPY_I8 = 3,    /* '|i1' (io/quant.h: int8 and binary rows) */
    LB_NPY_U8 = 4     /* '|u1' (io/quant.h: ubinary rows) */
} lb_npy_dtype;

/* Bytes of one element of dtype (4, 2 or 1). */
size_t lb_npy_dtype_size(lb_npy_dtype dtype);

/* The largest header lb_npy_header() can produce (a 2-D shape always fits in 128 bytes; this
 * leaves room). */
#define LB_NPY_HEADER_MAX 256

/*
 * Write the complete version 1.0 header (magic through the final '\n') for a C-order 2-D
 * array of shape (rows, cols) into buf, which holds at least LB_NPY_HEADER_MAX bytes.
 * Returns the header length (a multiple of 64; 128 for any realistic shape), or 0 when
 * dtype is unknown. The bytes are identical to numpy.lib.format.write_array_header_1_0.
 * Pure function; thread-safe.
 */
size_t lb_npy_header(char *buf, lb_npy_dtype dtype, uint64_t rows, uint64_t cols);

/* ------------------------------------------------------------------------------------------
 * Streaming writer: the one writer of .npy files (single outputs, part files, merge), over
 * io/atomic_file.h (temporary "<path>.tmp.<pid>", fsync, rename, directory fsync).
 * ------------------------------------------------------------------------------------------ */

/* An .npy file being written. Opaque; one thread at a time (different writers are
 * independent). */
typedef struct lb_npys lb_npys;

/*
 * Create "<path>.tmp.<pid>" and write the header for shape (rows_hint, cols). The row count
 * need not be known: when the rows finally appended differ from rows_hint, lb_npys_commit()
 * rewrites the header in place (numpy's spare spaces keep its length for any count of up to
 * 21 digits; a length change is refused). A checksum of the whole file is kept on the way
 * (SHA-256 unless lb_npys_set_hash says otherwise).
 * `path` itself is not touched until lb_npys_commit().
 *   path  final name (copied).
 *   out   receives the writer (caller owns it: it must end with lb_npys_commit() or
 *         lb_npys_abort(), which free it). Untouched on failure.
 * Errors: LABSE_E_INVALID (NULL or empty path, bad dtype, shape too large), LABSE_E_NOMEM,
 * LABSE_E_IO naming the temporary and strerror. Nothing is left on disk on failure.
 * Reentrant.
 */
labse_status lb_npys_open(const char *path, lb_npy_dtype dtype, uint64_t rows_hint,
                          uint64_t cols, lb_npys **out, labse_error *err);

/* Append n rows of float32 (n * cols floats, row-major; converted to float16 / bfloat16 for
 * a LB_NPY_F16 / LB_NPY_BF16 file, by io/quant.h). Short writes and EINTR are retried. On
 * LABSE_E_IO ("<tmp>: write failed: ...") the writer is only good for lb_npys_abort() /
 * lb_npys_commit() (which then fails). Not thread-safe (one writer, one thread). */
labse_status lb_npys_append(lb_npys *w, const float *rows, size_t n, labse_error *err);

struct lb_qcalib;
/* Append n float32 rows of dim floats (row-major) converted to the output format `format`
 * (an lb_qformat, io/quant.h; calib: its int8 ranges, NULL otherwise): the file was opened
 * with lb_qformat_npy(format) and lb_qformat_cols(format, dim) (LABSE_E_INVALID otherwise).
 * Same rules as lb_npys_append(), which is this call with the file's own float format. */
labse_status lb_npys_append_q(lb_npys *w, int format, const struct lb_qcalib *calib,
                              const float *rows, size_t n, size_t dim, labse_error *err);

/* Append n float32 rows taken in the order base + pos[0] * dim, base + pos[1] * dim, ...
 * (each dim floats), converted to `format` as lb_npys_append_q() does: the rows of a window,
 * where the encoder left them in its length order, written in input order without first
 * copying them into place (float32 on a little-endian host: writev straight from base; other
 * formats: converted row by row through a bounded buffer). The bytes written equal
 * lb_npys_append_q() of the rows put in that order. Same rules as lb_npys_append(). */
labse_status lb_npys_append_gather(lb_npys *w, int format, const struct lb_qcalib *calib,
                                   const float *base, const uint32_t *pos, size_t n, size_t dim,
                                   labse_error *err);

/* Append n rows already in the file's dtype (n * cols elements of 4, 2 or 1 bytes, host byte
 * order; float16 and bfloat16 as uint16_t bit patterns). Same rules as lb_npys_append(). */
labse_status lb_npys_append_raw(lb_npys *w, const void *data, size_t n, labse_error *err);

/* The checksum lb_npys_commit() returns: LB_DIGEST_SHA256 (the default), LB_DIGEST_XXH128 (the
 * part files of a folder: ~10× cheaper a byte) or LB_DIGEST_NONE (a single .npy output and
 * merges, whose checksum nobody records: the SHA-256 of f32 rows was a third of the host's CPU
 * time in a --device null run, bench/RESULTS.md). Call before the first append (the header is
 * hashed again). 0, or -1 when the XXH3 state cannot be allocated (the writer then keeps no
 * checksum). Not thread-safe (w's thread). */
int lb_npys_set_hash(lb_npys *w, lb_digest_kind kind);

/* Rows appended so far. */
uint64_t lb_npys_rows(const lb_npys *w);

/* The temporary path being written ("<path>.tmp.<pid>"); owned by w. */
const char *lb_npys_tmp_path(const lb_npys *w);

/*
 * Finish: fix the header when the row count differs from the hint (and hash the file
 * again), then lb_afile_commit(): fsync, close, rename onto path, fsync the directory.
 * hex (may be NULL) receives the file's checksum of the lb_npys_set_hash kind in lower-case hex
 * (64 digits SHA-256, 32 XXH3-128, "" none). Frees w in every case;
 * on failure the temporary is removed and path is left as it was. Errors: LABSE_E_IO
 * naming the file.
 */
labse_status lb_npys_commit(lb_npys *w, char hex[65], labse_error *err);

/* Give up: close and remove the temporary, free w. NULL is a no-op. Never fails. */
void lb_npys_abort(lb_npys *w);

/* ------------------------------------------------------------------------------------------
 * Reader (validating)
 * ------------------------------------------------------------------------------------------ */

/* What a header says. */
typedef struct lb_npy_info {
    lb_npy_dtype dtype;
    uint64_t rows, cols;       /* a 1-D array (n,) reads as rows = n, cols = 1 */
    int ndim;                  /* 1 or 2 */
    size_t data_offset;        /* byte offset of the first element */
} lb_npy_info;

/*
 * Parse and validate a header from the first len bytes of a file: magic, version 1.0 (2.0
 * and 3.0 are accepted too: 4-byte length), the dict with exactly the keys descr,
 * fortran_order, shape; descr '<f4', '<f2', '<u2' (read as bfloat16), '|i1' or '|u1' ('|' or
 * '=' byte order is refused for the wider types, '>' too);
 * fortran_order False; a 1-D or 2-D shape whose byte size does not overflow.
 * Errors: LABSE_E_FORMAT with what is wrong ("name" is used in the message),
 * LABSE_E_INVALID for NULL args. Pure function; thread-safe.
 */
labse_status lb_npy_parse_header(const void *buf, size_t len, const char *name,
                                 lb_npy_info *info, labse_error *err);

/*
 * Read a whole float32 .npy file into memory.
 *   data  receives malloc'ed rows*cols floats (caller frees with free(); NULL when empty).
 *   info  optional; receives the header facts.
 * Checks that the file size is exactly data_offset + rows*cols*4 (LABSE_E_FORMAT when the
 * file is truncated or has trailing bytes) and that the dtype is '<f4' (LABSE_E_UNSUPPORTED
 * otherwise). Errors: LABSE_E_IO (open/read), LABSE_E_FORMAT, LABSE_E_NOMEM.
 * Thread-safety: reentrant.
 */
labse_status lb_npy_read_f32(const char *path, float **data, lb_npy_info *info,
                             labse_error *err);

#endif
