/* npy.c — NumPy .npy v1.0 header, the streaming writer (over io/atomic_file), the validating
 * reader. See npy.h. */
#include "io/npy.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/common.h"
#include "base/half.h"
#include "base/digest.h"
#include "io/atomic_file.h"
#include "io/quant.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64
#define NPY_GROWTH_DIGITS 21 /* numpy's GROWTH_AXIS_MAX_DIGITS */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

size_t lb_npy_dtype_size(lb_npy_dtype dtype) {
    switch (dtype) {
    case LB_NPY_F32: return 4;
    case LB_NPY_F16: return 2;
    case LB_NPY_BF16: return 2;
    case LB_NPY_I8: return 1;
    case LB_NPY_U8: return 1;
    }
    return 0;
}

static const char *dtype_descr(lb_npy_dtype dtype) {
    switch (dtype) {
    case LB_NPY_F32: return "<f4";
    case LB_NPY_F16: return "<f2";
    case LB_NPY_BF16: return "<u2";
    case LB_NPY_I8: return "|i1";
    case LB_NPY_U8: return "|u1";
    }
    return NULL;
}

/* ==========================================================================================
 * Header
 * ========================================================================================== */

size_t lb_npy_header(char *buf, lb_npy_dtype dtype, uint64_t rows, uint64_t cols) {
    const char *descr = dtype_descr(dtype);
    if (!descr || !buf) return 0;
    char dict[160];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64 ", %" PRIu64
                     "), }",
                     descr, rows, cols);
    if (n < 0 || (size_t)n >= sizeof dict) return 0;
    size_t dlen = (size_t)n;
    /* numpy adds spare spaces so the first axis can grow in place up to 21 digits. */
    char rdigits[32];
    int rd = snprintf(rdigits, sizeof rdigits, "%" PRIu64, rows);
    size_t growth = rd < NPY_GROWTH_DIGITS ? (size_t)(NPY_GROWTH_DIGITS - rd) : 0;
    size_t hlen = dlen + growth + 1; /* + '\n' */
    /* magic (6) + version (2) + header length (2) + header: a multiple of 64. */
    size_t padlen = NPY_ALIGN - ((NPY_MAGIC_LEN + 2 + 2 + hlen) % NPY_ALIGN);
    size_t total = NPY_MAGIC_LEN + 2 + 2 + hlen + padlen;
    if (total > LB_NPY_HEADER_MAX) return 0;
    size_t field = hlen + padlen;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)(field & 0xff);
    buf[9] = (char)((field >> 8) & 0xff);
    memcpy(buf + 10, dict, dlen);
    memset(buf + 10 + dlen, ' ', growth + padlen);
    buf[total - 1] = '\n';
    return total;
}

/* ==========================================================================================
 * Streaming writer (over io/atomic_file)
 * ========================================================================================== */

struct lb_npys {
    lb_afile *f;
    lb_npy_dtype dtype;
    uint64_t cols, rows_hint, rows;
    size_t hlen;
    lb_digest dg;         /* the checksum kept on the way (lb_npys_set_hash; SHA-256) */
    void *conv;           /* f16 conversion / byte-swap buffer */
    size_t conv_cap;      /* in bytes */
};

static void npys_free(lb_npys *w) {
    lb_digest_drop(&w->dg);
    free(w->conv);
    free(w);
}

labse_status lb_npys_open(const char *path, lb_npy_dtype dtype, uint64_t rows_hint,
                          uint64_t cols, lb_npys **out, labse_error *err) {
    if (!path || !out || !*path) return lb_err(err, LABSE_E_INVALID, "npy writer: no path");
    if (!dtype_descr(dtype)) return lb_err(err, LABSE_E_INVALID, "npy writer: bad dtype");
    size_t es = lb_npy_dtype_size(dtype);
    if (cols != 0 && rows_hint > UINT64_MAX / cols / es)
        return lb_err(err, LABSE_E_INVALID, "%s: shape (%" PRIu64 ", %" PRIu64 ") too large",
                      path, rows_hint, cols);
    lb_npys *w = calloc(1, sizeof *w);
    if (!w) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    w->dtype = dtype;
    w->cols = cols;
    w->rows_hint = rows_hint;
    labse_status s = lb_afile_open(path, &w->f, err);
    if (s != LABSE_OK) {
        npys_free(w);
        return s;
    }
    char hdr[LB_NPY_HEADER_MAX];
    w->hlen = lb_npy_header(hdr, dtype, rows_hint, cols);
    if (!w->hlen) {
        lb_err(err, LABSE_E_INVALID, "%s: shape (%" PRIu64 ", %" PRIu64 ") has no header",
               path, rows_hint, cols);
        lb_npys_abort(w);
        return LABSE_E_INVALID;
    }
    lb_digest_init(&w->dg, LB_DIGEST_SHA256); /* SHA-256 never fails to start */
    if ((s = lb_afile_write(w->f, hdr, w->hlen, err)) != LABSE_OK) {
        lb_npys_abort(w);
        return s;
    }
    lb_digest_update(&w->dg, hdr, w->hlen);
    *out = w;
    return LABSE_OK;
}

/* Grow the conversion buffer to bytes. 0 or -1 (NOMEM). */
static int conv_reserve(lb_npys *w, size_t bytes) {
    if (bytes <= w->conv_cap) return 0;
    void *nb = realloc(w->conv, bytes);
    if (!nb) return -1;
    w->conv = nb;
    w->conv_cap = bytes;
    return 0;
}

labse_status lb_npys_append_raw(lb_npys *w, const void *data, size_t n, labse_error *err) {
    if (!w || (!data && n)) return lb_err(err, LABSE_E_INVALID, "npy writer: NULL argument");
    size_t es = lb_npy_dtype_size(w->dtype);
    size_t bytes = n * (size_t)w->cols * es;
    labse_status s;
    if (host_is_little_endian()) {
        s = lb_afile_write(w->f, data, bytes, err);
        if (s == LABSE_OK) lb_digest_update(&w->dg, data, bytes);
    } else {
        /* The file is little-endian: byte-swap through a bounded buffer. */
        const unsigned char *src = data;
        size_t cap = (size_t)1 << 20;
        if (conv_reserve(w, cap) != 0) return lb_err(err, LABSE_E_NOMEM, "out of memory");
        s = LABSE_OK;
        while (bytes > 0 && s == LABSE_OK) {
            size_t c = bytes < cap ? bytes : cap;
            unsigned char *d = w->conv;
            for (size_t i = 0; i < c; i += es)
                for (size_t k = 0; k < es; k++) d[i + k] = src[i + es - 1 - k];
            s = lb_afile_write(w->f, d, c, err);
            if (s == LABSE_OK) lb_digest_update(&w->dg, d, c);
            src += c;
            bytes -= c;
        }
    }
    if (s != LABSE_OK) return s;
    w->rows += n;
    return LABSE_OK;
}

/* 1 when float32 rows of dim floats converted to format f (calib: its int8 ranges) fit w's
 * dtype and columns. */
static int rows_fit(const lb_npys *w, lb_qformat f, const struct lb_qcalib *calib, size_t dim) {
    return lb_qformat_name(f) && lb_qformat_npy(f) == w->dtype && lb_qformat_cols(f, dim) == w->cols &&
           (f != LB_Q_INT8 || (calib && calib->dim == dim));
}

labse_status lb_npys_append_q(lb_npys *w, int format, const struct lb_qcalib *calib,
                              const float *rows, size_t n, size_t dim, labse_error *err) {
    if (!w || (!rows && n)) return lb_err(err, LABSE_E_INVALID, "npy writer: NULL argument");
    lb_qformat f = (lb_qformat)format;
    if (!rows_fit(w, f, calib, dim))
        return lb_err(err, LABSE_E_INVALID, "npy writer: rows of format %d do not fit the file",
                      format);
    if (f == LB_Q_F32) return lb_npys_append_raw(w, rows, n, err);
    size_t bytes = n * (size_t)w->cols * lb_npy_dtype_size(w->dtype);
    if (conv_reserve(w, bytes) != 0)
        return lb_err(err, LABSE_E_NOMEM, "out of memory for %s rows", lb_qformat_name(f));
    lb_quant_rows(f, calib, rows, n, dim, w->conv);
    if (host_is_little_endian() || lb_npy_dtype_size(w->dtype) == 1)
        return lb_npys_append_raw(w, w->conv, n, err);
    /* Big-endian: append_raw swaps through conv itself, so hand it a copy. */
    void *copy = malloc(bytes);
    if (!copy && bytes) return lb_err(err, LABSE_E_NOMEM, "out of memory for rows");
    if (bytes) memcpy(copy, w->conv, bytes);
    labse_status s = lb_npys_append_raw(w, copy, n, err);
    free(copy);
    return s;
}

labse_status lb_npys_append_gather(lb_npys *w, int format, const struct lb_qcalib *calib,
                                   const float *base, const uint32_t *pos, size_t n, size_t dim,
                                   labse_error *err) {
    if (!w || (n && (!base || !pos)))
        return lb_err(err, LABSE_E_INVALID, "npy writer: NULL argument");
    lb_qformat f = (lb_qformat)format;
    if (!rows_fit(w, f, calib, dim))
        return lb_err(err, LABSE_E_INVALID, "npy writer: rows of format %d do not fit the file",
                      format);
    enum { CHUNK = 256 }; /* rows a system call (f32) or a conversion buffer (others) */
    if (f == LB_Q_F32 && host_is_little_endian()) {
        struct iovec v[CHUNK];
        const size_t rb = dim * sizeof(float);
        for (size_t i = 0; i < n; i += CHUNK) {
            size_t k = n - i < CHUNK ? n - i : CHUNK;
            for (size_t j = 0; j < k; j++) {
                v[j].iov_base = (void *)(base + (size_t)pos[i + j] * dim);
                v[j].iov_len = rb;
            }
            labse_status s = lb_afile_writev(w->f, v, (int)k, err);
            if (s != LABSE_OK) return s;
            for (size_t j = 0; j < k; j++) lb_digest_update(&w->dg, v[j].iov_base, rb);
            w->rows += k;
        }
        return LABSE_OK;
    }
    const size_t rb = (size_t)w->cols * lb_npy_dtype_size(w->dtype);
    unsigned char *g = malloc(CHUNK * rb);
    if (!g) return lb_err(err, LABSE_E_NOMEM, "out of memory for %s rows", lb_qformat_name(f));
    labse_status s = LABSE_OK;
    for (size_t i = 0; i < n && s == LABSE_OK; i += CHUNK) {
        size_t k = n - i < CHUNK ? n - i : CHUNK;
        for (size_t j = 0; j < k; j++)
            lb_quant_rows(f, calib, base + (size_t)pos[i + j] * dim, 1, dim, g + j * rb);
        s = lb_npys_append_raw(w, g, k, err); /* byte-swaps through conv on big-endian hosts */
    }
    free(g);
    return s;
}

labse_status lb_npys_append(lb_npys *w, const float *rows, size_t n, labse_error *err) {
    if (!w) return lb_err(err, LABSE_E_INVALID, "npy writer: NULL argument");
    lb_qformat f = w->dtype == LB_NPY_F16 ? LB_Q_F16 : w->dtype == LB_NPY_BF16 ? LB_Q_BF16 : LB_Q_F32;
    if (w->dtype != lb_qformat_npy(f))
        return lb_err(err, LABSE_E_INVALID, "npy writer: float rows into an integer file");
    return lb_npys_append_q(w, f, NULL, rows, n, (size_t)w->cols, err);
}

int lb_npys_set_hash(lb_npys *w, lb_digest_kind kind) {
    if (!w) return -1;
    lb_digest_drop(&w->dg);
    if (lb_digest_init(&w->dg, kind) != 0) return -1;
    char hdr[LB_NPY_HEADER_MAX]; /* the header written at open: rows_hint, not yet rewritten */
    size_t hl = lb_npy_header(hdr, w->dtype, w->rows_hint, w->cols);
    lb_digest_update(&w->dg, hdr, hl);
    return 0;
}

uint64_t lb_npys_rows(const lb_npys *w) { return w ? w->rows : 0; }

const char *lb_npys_tmp_path(const lb_npys *w) { return w ? lb_afile_tmp_path(w->f) : ""; }

/* Hash the whole temporary file again (after a header rewrite). 0 or -1 (errno set). */
static int rehash(lb_npys *w) {
    const lb_digest_kind kind = w->dg.kind;
    lb_digest_drop(&w->dg);
    if (lb_digest_init(&w->dg, kind) != 0) return -1;
    char *buf = malloc((size_t)1 << 20);
    if (!buf) return -1;
    uint64_t off = 0;
    for (;;) {
        long long r = lb_afile_pread(w->f, buf, (size_t)1 << 20, off);
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0) break;
        lb_digest_update(&w->dg, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return 0;
}

labse_status lb_npys_commit(lb_npys *w, char hex[65], labse_error *err) {
    if (!w) return lb_err(err, LABSE_E_INVALID, "npy writer: NULL");
    labse_status s = LABSE_OK;
    const int rewrite = w->rows != w->rows_hint;
    if (rewrite) {
        char hdr[LB_NPY_HEADER_MAX];
        size_t hl = lb_npy_header(hdr, w->dtype, w->rows, w->cols);
        if (hl != w->hlen) {
            s = lb_err(err, LABSE_E_IO, "%s: header length changed (%zu -> %zu)",
                       lb_afile_tmp_path(w->f), w->hlen, hl);
            goto fail;
        }
        if ((s = lb_afile_pwrite(w->f, hdr, hl, 0, err)) != LABSE_OK) goto fail;
    }
    if (hex && rewrite && w->dg.kind != LB_DIGEST_NONE) { /* the header changed: hash again */
        if (rehash(w) != 0) {
            s = lb_err(err, LABSE_E_IO, "%s: read back failed: %s", lb_afile_tmp_path(w->f),
                       strerror(errno));
            goto fail;
        }
    }
    s = lb_afile_commit(w->f, err); /* frees the file in every case */
    w->f = NULL;
    if (s != LABSE_OK) goto fail;
    if (hex) lb_digest_final_hex(&w->dg, hex);
    npys_free(w);
    return LABSE_OK;
fail:
    lb_npys_abort(w);
    return s;
}

void lb_npys_abort(lb_npys *w) {
    if (!w) return;
    lb_afile_abort(w->f);
    npys_free(w);
}

/* ==========================================================================================
 * Reader
 * ========================================================================================== */

typedef struct hdr_cursor {
    const char *p, *end;
} hdr_cursor;

static void skip_ws(hdr_cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) c->p++;
}

static int accept_ch(hdr_cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string ('...' or "...", no escapes) into out (cap bytes). */
static int parse_str(hdr_cursor *c, char *out, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= cap) return 0;
        out[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    out[n] = '\0';
    return 1;
}

static int parse_u64(hdr_cursor *c, uint64_t *v) {
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
    uint64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        unsigned d = (unsigned)(*c->p - '0');
        if (x > (UINT64_MAX - d) / 10) return 0;
        x = x * 10 + d;
        c->p++;
    }
    if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long */
    *v = x;
    return 1;
}

static int accept_word(hdr_cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

labse_status lb_npy_parse_header(const void *buf, size_t len, const char *name,
                                 lb_npy_info *info, labse_error *err) {
    if (!buf || !info) return lb_err(err, LABSE_E_INVALID, "npy: NULL argument");
    if (!name) name = "<npy>";
    const unsigned char *b = buf;
    if (len < 10 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return lb_err(err, LABSE_E_FORMAT, "%s: not a .npy file (bad magic)", name);
    unsigned major = b[6], minor = b[7];
    size_t hstart, hlen;
    if (major == 1 && minor == 0) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hstart = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (len < 12) return lb_err(err, LABSE_E_FORMAT, "%s: truncated header", name);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hstart = 12;
    } else {
        return lb_err(err, LABSE_E_FORMAT, "%s: unsupported .npy version %u.%u", name, major,
                      minor);
    }
    if (hlen > len - hstart)
        return lb_err(err, LABSE_E_FORMAT, "%s: truncated header (%zu bytes announced)", name,
                      hlen);
    if (hlen == 0 || b[hstart + hlen - 1] != '\n')
        return lb_err(err, LABSE_E_FORMAT, "%s: header does not end with a newline", name);

    hdr_cursor c = {(const char *)b + hstart, (const char *)b + hstart + hlen - 1};
    char descr[16] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0, ndim = 0;
    uint64_t shape[2] = {0, 0};
    if (!accept_ch(&c, '{')) return lb_err(err, LABSE_E_FORMAT, "%s: header is not a dict", name);
    for (;;) {
        if (accept_ch(&c, '}')) break;
        char key[32];
        if (!parse_str(&c, key, sizeof key) || !accept_ch(&c, ':'))
            return lb_err(err, LABSE_E_FORMAT, "%s: malformed header dict", name);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (!parse_str(&c, descr, sizeof descr))
                return lb_err(err, LABSE_E_FORMAT, "%s: descr is not a plain string", name);
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
            if (accept_word(&c, "False"))
                fortran = 0;
            else if (accept_word(&c, "True"))
                fortran = 1;
            else
                return lb_err(err, LABSE_E_FORMAT, "%s: fortran_order is not a bool", name);
            have_order = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (!accept_ch(&c, '('))
                return lb_err(err, LABSE_E_FORMAT, "%s: shape is not a tuple", name);
            while (!accept_ch(&c, ')')) {
                uint64_t v;
                if (ndim >= 2 || !parse_u64(&c, &v))
                    return lb_err(err, LABSE_E_FORMAT,
                                  "%s: shape must be a tuple of 1 or 2 integers", name);
                shape[ndim++] = v;
                if (!accept_ch(&c, ',')) {
                    if (!accept_ch(&c, ')'))
                        return lb_err(err, LABSE_E_FORMAT, "%s: malformed shape", name);
                    break;
                }
            }
            have_shape = 1;
        } else {
            return lb_err(err, LABSE_E_FORMAT, "%s: unexpected or repeated key '%s'", name, key);
        }
        if (!accept_ch(&c, ',')) {
            if (!accept_ch(&c, '}'))
                return lb_err(err, LABSE_E_FORMAT, "%s: malformed header dict", name);
            break;
        }
    }
    skip_ws(&c);
    if (c.p != c.end) return lb_err(err, LABSE_E_FORMAT, "%s: junk after the header dict", name);
    if (!have_descr || !have_order || !have_shape)
        return lb_err(err, LABSE_E_FORMAT, "%s: header lacks descr, fortran_order or shape", name);
    lb_npy_dtype dt = LB_NPY_F32;
    int known = 0;
    for (int k = LB_NPY_F32; k <= LB_NPY_U8 && !known; k++)
        if (strcmp(descr, dtype_descr((lb_npy_dtype)k)) == 0) {
            dt = (lb_npy_dtype)k;
            known = 1;
        }
    if (!known)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: dtype '%s' not supported (want '<f4', '<f2', '<u2', '|i1' or '|u1')",
                      name, descr);
    if (fortran) return lb_err(err, LABSE_E_FORMAT, "%s: fortran_order arrays not supported", name);
    if (ndim == 0) return lb_err(err, LABSE_E_FORMAT, "%s: 0-d arrays not supported", name);
    if (ndim == 1) shape[1] = 1;
    size_t es = lb_npy_dtype_size(dt);
    if (shape[1] != 0 && shape[0] > (uint64_t)SIZE_MAX / shape[1] / es)
        return lb_err(err, LABSE_E_FORMAT, "%s: shape too large", name);
    info->dtype = dt;
    info->rows = shape[0];
    info->cols = shape[1];
    info->ndim = ndim;
    info->data_offset = hstart + hlen;
    return LABSE_OK;
}

labse_status lb_npy_read_f32(const char *path, float **data, lb_npy_info *info,
                             labse_error *err) {
    if (!path || !data) return lb_err(err, LABSE_E_INVALID, "npy: NULL argument");
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    labse_status s = LABSE_OK;
    float *buf = NULL;
    unsigned char hdr[65536 + 12];
    size_t got = fread(hdr, 1, 12, f);
    if (got < 10) {
        s = ferror(f) ? lb_err(err, LABSE_E_IO, "%s: read failed: %s", path, strerror(errno))
                      : lb_err(err, LABSE_E_FORMAT, "%s: too short for a .npy file", path);
        goto done;
    }
    /* Read the rest of the announced header, then parse. */
    size_t hlen_total;
    if (hdr[6] == 1)
        hlen_total = 10 + ((size_t)hdr[8] | ((size_t)hdr[9] << 8));
    else
        hlen_total = got >= 12 ? 12 + ((size_t)hdr[8] | ((size_t)hdr[9] << 8) |
                                       ((size_t)hdr[10] << 16) | ((size_t)hdr[11] << 24))
                               : got;
    if (hlen_total > sizeof hdr) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: header too long", path);
        goto done;
    }
    if (hlen_total > got) got += fread(hdr + got, 1, hlen_total - got, f);
    lb_npy_info in;
    s = lb_npy_parse_header(hdr, got, path, &in, err);
    if (s != LABSE_OK) goto done;
    if (in.dtype != LB_NPY_F32) {
        s = lb_err(err, LABSE_E_UNSUPPORTED, "%s: dtype is not '<f4'", path);
        goto done;
    }
    size_t n = (size_t)(in.rows * in.cols);
    if (fseeko(f, 0, SEEK_END) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: seek failed: %s", path, strerror(errno));
        goto done;
    }
    off_t fsz = ftello(f);
    if (fsz < 0 || (uint64_t)fsz != (uint64_t)in.data_offset + (uint64_t)n * 4) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: file is %lld bytes, header promises %" PRIu64 " (shape %" PRIu64
                   " x %" PRIu64 ")",
                   path, (long long)fsz, (uint64_t)in.data_offset + (uint64_t)n * 4, in.rows,
                   in.cols);
        goto done;
    }
    if (fseeko(f, (off_t)in.data_offset, SEEK_SET) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: seek failed: %s", path, strerror(errno));
        goto done;
    }
    if (n > 0) {
        buf = malloc(n * sizeof *buf);
        if (!buf) {
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory for %zu floats", path, n);
            goto done;
        }
        if (fread(buf, sizeof *buf, n, f) != n) {
            s = lb_err(err, LABSE_E_IO, "%s: short read", path);
            goto done;
        }
        if (!host_is_little_endian()) {
            unsigned char *p = (unsigned char *)buf;
            for (size_t i = 0; i < n * 4; i += 4) {
                unsigned char t0 = p[i], t1 = p[i + 1];
                p[i] = p[i + 3];
                p[i + 1] = p[i + 2];
                p[i + 2] = t1;
                p[i + 3] = t0;
            }
        }
    }
    if (info) *info = in;
    *data = buf;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return s;
}
