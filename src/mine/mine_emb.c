/* mine_emb.c — embedding matrices for mining: mapped .npy files, part folders, memory,
 * generators. See mine_emb.h. */
#include "mine/mine_emb.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "io/manifest.h"
#include "io/npy.h"

/* One contiguous run of rows: rows [first, first + rows) of the matrix. */
typedef struct emb_seg {
    uint64_t first, rows;
    const unsigned char *data;  /* first element of the segment (little-endian f32 / f16 /
                                   bf16 bits) */
    lb_npy_dtype dtype;
    void *map;                  /* mmap base to unmap (NULL when not mapped) */
    size_t map_len;
} emb_seg;

struct lb_emb {
    char *name;                 /* for messages (owned) */
    uint64_t rows;
    size_t dim;
    emb_seg *segs;              /* n_segs segments, ascending, contiguous from row 0 */
    size_t n_segs;
    float *owned;               /* memory matrix to free(), or NULL */
    lb_emb_gen_fn gen;          /* generator, or NULL */
    void *gen_ctx;
};

/* ==========================================================================================
 * Creation
 * ========================================================================================== */

static lb_emb *emb_new(const char *name) {
    lb_emb *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->name = strdup(name ? name : "<embeddings>");
    if (!e->name) {
        free(e);
        return NULL;
    }
    return e;
}

void lb_emb_free(lb_emb *e) {
    if (!e) return;
    for (size_t i = 0; i < e->n_segs; i++)
        if (e->segs[i].map) munmap(e->segs[i].map, e->segs[i].map_len);
    free(e->segs);
    free(e->owned);
    free(e->name);
    free(e);
}

/* The refusal of quantised embeddings (labse encode --format int8/ubinary/binary). */
static labse_status quantised_error(const char *path, const char *what, labse_error *err) {
    return lb_err(err, LABSE_E_UNSUPPORTED,
                  "%s: holds %s rows, quantised embeddings; mining compares float rows: encode "
                  "with --format f32, f16 or bf16",
                  path, what);
}

/* A dtype's name in messages. */
static const char *dtype_name(lb_npy_dtype d) {
    return d == LB_NPY_F16 ? "float16" : d == LB_NPY_BF16 ? "bfloat16" : "float32";
}

/* Map one .npy file and check it: 2-D, exact size, float32, float16 or bfloat16 ('<u2'). */
static labse_status map_npy(const char *path, emb_seg *seg, lb_npy_info *info,
                            labse_error *err) {
    memset(seg, 0, sizeof *seg);
    int fd;
    do /* EINTR retried */
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lb_err(err, LABSE_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return lb_err(err, LABSE_E_IO, "%s: is a directory without manifest.json", path);
    }
    if (!S_ISREG(st.st_mode) || st.st_size < 10) {
        close(fd);
        return lb_err(err, LABSE_E_FORMAT, "%s: not a .npy file (too short or not regular)",
                      path);
    }
    size_t len = (size_t)st.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED) return lb_err(err, LABSE_E_IO, "%s: cannot map: %s", path, strerror(e));
    labse_status s = lb_npy_parse_header(map, len, path, info, err);
    if (s != LABSE_OK) goto fail;
    if (info->ndim != 2) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: a 1-D array; embeddings are 2-D (rows, dim)", path);
        goto fail;
    }
    if (info->dtype == LB_NPY_I8 || info->dtype == LB_NPY_U8) {
        s = quantised_error(path, info->dtype == LB_NPY_U8 ? "uint8 (ubinary)" : "int8 (int8 or binary)", err);
        goto fail;
    }
    uint64_t want = (uint64_t)info->data_offset +
                    info->rows * info->cols * (uint64_t)lb_npy_dtype_size(info->dtype);
    if ((uint64_t)len != want) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: file is %zu bytes, header promises %" PRIu64 " (shape %" PRIu64
                   " x %" PRIu64 ")",
                   path, len, want, info->rows, info->cols);
        goto fail;
    }
    seg->rows = info->rows;
    seg->dtype = info->dtype;
    seg->data = (const unsigned char *)map + info->data_offset;
    seg->map = map;
    seg->map_len = len;
    return LABSE_OK;
fail:
    munmap(map, len);
    return s;
}

/* Map the parts listed in dir/manifest.json (io/manifest.h, parts-listing reader): in
 * order, first_line = the rows before (no gap, no overlap), each (rows, dim) of the
 * manifest's dtype when it names one. any_start 1: the first part may start at any line (a
 * shard's folder; rows are counted from it). Fills e->segs, e->n_segs, e->rows, e->dim. */
static labse_status open_manifest(const char *dir, int any_start, lb_emb *e, labse_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    lb_manifest m;
    labse_status s = lb_manifest_read_parts(dir, &m, err);
    if (s != LABSE_OK) return s;
    int want_dt = m.has_dtype ? (int)m.dtype : -1;
    if (m.has_dtype && lb_qformat_quantised(m.qformat)) {
        s = quantised_error(path, lb_qformat_name(m.qformat), err);
        goto done;
    }
    size_t n = m.n_parts;
    if (n == 0) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: \"parts\" is empty (no rows)", path);
        goto done;
    }
    e->segs = calloc(n, sizeof *e->segs);
    if (!e->segs) {
        s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    e->dim = (size_t)m.dim;
    uint64_t base = any_start ? m.parts[0].first_line : 0, next = base;
    for (size_t i = 0; i < n; i++) {
        const lb_manifest_part *p = &m.parts[i];
        uint64_t first = p->first_line, rows = p->rows;
        if (first != next) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: part %zu (%s) starts at line %" PRIu64 ", expected %" PRIu64
                       " (parts must be contiguous and in order)",
                       path, i, p->file, first, next);
            goto done;
        }
        char ppath[4096];
        snprintf(ppath, sizeof ppath, "%s/%s", dir, p->file);
        lb_npy_info info;
        s = map_npy(ppath, &e->segs[i], &info, err);
        if (s != LABSE_OK) goto done;
        e->n_segs = i + 1;
        e->segs[i].first = first - base;
        if (info.rows != rows || (e->dim && info.cols != e->dim) ||
            (want_dt >= 0 && (int)info.dtype != want_dt)) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: shape (%" PRIu64 ", %" PRIu64 ") %s, manifest says (%" PRIu64
                       ", %zu) %s",
                       ppath, info.rows, info.cols, dtype_name(info.dtype), rows, e->dim,
                       want_dt < 0 ? "(any dtype)" : dtype_name((lb_npy_dtype)want_dt));
            goto done;
        }
        if (!e->dim) e->dim = info.cols;
        next += rows;
    }
    e->rows = next - base;
done:
    lb_manifest_free(&m);
    return s;
}

labse_status lb_emb_open(const char *path, lb_emb **out, labse_error *err) {
    if (!path || !out) return lb_err(err, LABSE_E_INVALID, "lb_emb_open: NULL argument");
    lb_emb *e = emb_new(path);
    if (!e) return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    labse_status s;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char mpath[4096];
        snprintf(mpath, sizeof mpath, "%s/manifest.json", path);
        if (access(mpath, F_OK) != 0) {
            s = lb_err(err, LABSE_E_IO, "%s: a directory without manifest.json", path);
            goto fail;
        }
        s = open_manifest(path, 0, e, err);
        if (s != LABSE_OK) goto fail;
    } else {
        e->segs = calloc(1, sizeof *e->segs);
        if (!e->segs) {
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        lb_npy_info info;
        s = map_npy(path, &e->segs[0], &info, err);
        if (s != LABSE_OK) goto fail;
        e->n_segs = 1;
        e->rows = info.rows;
        e->dim = info.cols;
    }
    if (e->dim == 0) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: dimension 0", path);
        goto fail;
    }
    if (e->rows > LB_EMB_MAX_ROWS) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: %" PRIu64 " rows; at most %" PRIu64 " supported",
                   path, e->rows, LB_EMB_MAX_ROWS);
        goto fail;
    }
    *out = e;
    return LABSE_OK;
fail:
    lb_emb_free(e);
    return s;
}

labse_status lb_emb_open_folders(const char *name, const char *const *dirs, size_t n,
                                 lb_emb **out, labse_error *err) {
    if (!name || !dirs || n == 0 || !out)
        return lb_err(err, LABSE_E_INVALID, "lb_emb_open_folders: bad argument");
    lb_emb *e = emb_new(name);
    if (!e) return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", name);
    labse_status s = LABSE_OK;
    for (size_t i = 0; i < n && s == LABSE_OK; i++) {
        lb_emb one;
        memset(&one, 0, sizeof one);
        s = open_manifest(dirs[i], 1, &one, err);
        emb_seg *segs = s == LABSE_OK ? realloc(e->segs, (e->n_segs + one.n_segs) * sizeof *segs)
                                      : NULL;
        if (s == LABSE_OK && !segs) s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", name);
        if (s == LABSE_OK && e->dim && one.dim != e->dim)
            s = lb_err(err, LABSE_E_FORMAT, "%s: dim %zu, but %s has %zu", dirs[i], one.dim,
                       dirs[0], e->dim);
        if (segs) e->segs = segs;
        if (s == LABSE_OK) { /* the segments move over, shifted by the rows before */
            for (size_t k = 0; k < one.n_segs; k++) {
                e->segs[e->n_segs] = one.segs[k];
                e->segs[e->n_segs].first += e->rows;
                e->n_segs++;
            }
            one.n_segs = 0;
            e->rows += one.rows;
            e->dim = one.dim;
        }
        for (size_t k = 0; k < one.n_segs; k++) /* what did not move */
            if (one.segs[k].map) munmap(one.segs[k].map, one.segs[k].map_len);
        free(one.segs);
    }
    if (s == LABSE_OK && e->rows > LB_EMB_MAX_ROWS)
        s = lb_err(err, LABSE_E_FORMAT, "%s: %" PRIu64 " rows; at most %" PRIu64 " supported",
                   name, e->rows, LB_EMB_MAX_ROWS);
    if (s != LABSE_OK) {
        lb_emb_free(e);
        return s;
    }
    *out = e;
    return LABSE_OK;
}

labse_status lb_emb_wrap(float *data, uint64_t rows, size_t dim, int take_ownership,
                         const char *name, lb_emb **out, labse_error *err) {
    if (!out || (!data && rows) || dim == 0)
        return lb_err(err, LABSE_E_INVALID, "lb_emb_wrap: bad argument");
    if (rows > LB_EMB_MAX_ROWS)
        return lb_err(err, LABSE_E_INVALID, "%s: too many rows", name ? name : "embeddings");
    lb_emb *e = emb_new(name);
    if (!e) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    e->segs = calloc(1, sizeof *e->segs);
    if (!e->segs) {
        lb_emb_free(e);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    e->n_segs = 1;
    e->segs[0].rows = rows;
    e->segs[0].data = (const unsigned char *)data;
    e->segs[0].dtype = LB_NPY_F32;
    e->rows = rows;
    e->dim = dim;
    if (take_ownership) e->owned = data;
    *out = e;
    return LABSE_OK;
}

labse_status lb_emb_generator(uint64_t rows, size_t dim, lb_emb_gen_fn fn, void *ctx,
                              const char *name, lb_emb **out, labse_error *err) {
    if (!out || !fn || dim == 0 || rows > LB_EMB_MAX_ROWS)
        return lb_err(err, LABSE_E_INVALID, "lb_emb_generator: bad argument");
    lb_emb *e = emb_new(name);
    if (!e) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    e->rows = rows;
    e->dim = dim;
    e->gen = fn;
    e->gen_ctx = ctx;
    *out = e;
    return LABSE_OK;
}

labse_status lb_emb_encode_lines(labse_session *s, size_t dim, const lb_line *lines, size_t n,
                                 const char *name, lb_emb **out, labse_error *err) {
    enum { CHUNK = 4096 };
    if (!s || !out || (!lines && n) || dim == 0)
        return lb_err(err, LABSE_E_INVALID, "lb_emb_encode_lines: bad argument");
    if (n > LB_EMB_MAX_ROWS) return lb_err(err, LABSE_E_INVALID, "%s: too many lines", name);
    float *data = n ? malloc(n * dim * sizeof *data) : NULL;
    const char **ptrs = malloc(CHUNK * sizeof *ptrs);
    size_t *lens = malloc(CHUNK * sizeof *lens);
    labse_status st = LABSE_OK;
    if ((n && !data) || !ptrs || !lens) {
        st = lb_err(err, LABSE_E_NOMEM, "%s: out of memory for %zu x %zu floats", name, n, dim);
        goto fail;
    }
    for (size_t i0 = 0; i0 < n; i0 += CHUNK) {
        size_t k = n - i0 < CHUNK ? n - i0 : CHUNK;
        for (size_t i = 0; i < k; i++) {
            ptrs[i] = lines[i0 + i].ptr;
            lens[i] = lines[i0 + i].len;
        }
        st = labse_encode(s, ptrs, lens, k, data + i0 * dim, err);
        if (st != LABSE_OK) {
            lb_err_prefix(err, "%s: lines %zu..%zu", name, i0 + 1, i0 + k);
            goto fail;
        }
    }
    free(ptrs);
    free(lens);
    st = lb_emb_wrap(data, n, dim, 1, name, out, err);
    if (st != LABSE_OK) free(data);
    return st;
fail:
    free(data);
    free(ptrs);
    free(lens);
    return st;
}

uint64_t lb_emb_rows(const lb_emb *e) { return e->rows; }
size_t lb_emb_dim(const lb_emb *e) { return e->dim; }
const char *lb_emb_name(const lb_emb *e) { return e->name; }

/* ==========================================================================================
 * Reading
 * ========================================================================================== */

/* IEEE binary16 → binary32, exact (subnormals, inf, NaN included). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: value = man * 2^-24, exact in float */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Index of the segment holding row r (segments ascending, contiguous). */
static size_t seg_of(const lb_emb *e, uint64_t r) {
    size_t lo = 0, hi = e->n_segs;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (e->segs[mid].first <= r)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

void lb_emb_read(const lb_emb *e, uint64_t row0, size_t n, float *out) {
    const size_t d = e->dim;
    if (e->gen) {
        e->gen(e->gen_ctx, row0, n, d, out);
        return;
    }
    size_t si = n ? seg_of(e, row0) : 0;
    while (n > 0) {
        const emb_seg *g = &e->segs[si];
        uint64_t off = row0 - g->first;
        size_t take = (size_t)(g->rows - off < n ? g->rows - off : n);
        if (g->dtype == LB_NPY_F32) {
            memcpy(out, g->data + off * d * 4, take * d * 4);
        } else if (g->dtype == LB_NPY_BF16) { /* the bits are a float's top half */
            const unsigned char *p = g->data + off * d * 2;
            for (size_t i = 0; i < take * d; i++) {
                uint32_t u = (uint32_t)(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
                memcpy(&out[i], &u, sizeof u);
            }
        } else {
            const unsigned char *p = g->data + off * d * 2;
            for (size_t i = 0; i < take * d; i++)
                out[i] = half_to_float((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        }
        out += take * d;
        row0 += take;
        n -= take;
        si++;
    }
}

/* Squared norm in double; -1 when a value is not finite. */
static double row_sqnorm(const float *x, size_t d) {
    double s = 0;
    int finite = 1;
    for (size_t j = 0; j < d; j++) {
        finite &= isfinite(x[j]) != 0;
        s += (double)x[j] * (double)x[j];
    }
    return finite ? s : -1.0;
}

labse_status lb_emb_validate(const lb_emb *e, int threads, labse_error *err) {
    enum { BLK = 256 };
    const size_t d = e->dim;
    uint64_t nblk = (e->rows + BLK - 1) / BLK;
    uint64_t bad = UINT64_MAX; /* first bad row */
    int bad_kind = 0, nomem = 0;
#pragma omp parallel num_threads(threads > 0 ? threads : omp_get_num_procs()) if (nblk > 1)
    {
        float *buf = malloc((size_t)BLK * d * sizeof *buf);
        if (!buf) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (uint64_t b = 0; b < nblk; b++) {
            if (!buf) continue;
            uint64_t r0 = b * BLK;
            size_t n = (size_t)(e->rows - r0 < BLK ? e->rows - r0 : BLK);
            lb_emb_read(e, r0, n, buf);
            for (size_t i = 0; i < n; i++) {
                double s = row_sqnorm(buf + i * d, d);
                if (s <= 0) {
#pragma omp critical(lb_emb_validate)
                    if (r0 + i < bad) {
                        bad = r0 + i;
                        bad_kind = s < 0 ? 1 : 2;
                    }
                    break;
                }
            }
        }
        free(buf);
    }
    if (nomem) return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", e->name);
    if (bad != UINT64_MAX)
        return lb_err(err, LABSE_E_FORMAT,
                      bad_kind == 1 ? "%s: row %" PRIu64 " (0-based) has a non-finite value "
                                      "(NaN or inf)"
                                    : "%s: row %" PRIu64 " (0-based) has zero norm; a zero "
                                      "vector has no direction to compare",
                      e->name, bad);
    return LABSE_OK;
}

void lb_emb_fetch_normalized(const lb_emb *e, uint64_t row0, size_t n, float *out) {
    const size_t d = e->dim;
    lb_emb_read(e, row0, n, out);
    for (size_t i = 0; i < n; i++) {
        float *x = out + i * d;
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)x[j] * (double)x[j];
        float inv = (float)(1.0 / sqrt(s));
        for (size_t j = 0; j < d; j++) x[j] *= inv;
    }
}
