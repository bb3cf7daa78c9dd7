/* safetensors.c — a hardened reader of the safetensors format.
 *
 * Layout: [u64 little-endian N][N bytes of JSON header][data]. The header is an object
 *   { "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end]}, ...,
 *     "__metadata__": {...} }
 * with offsets relative to the start of the data section.
 *
 * Threat model: the file is hostile. Nothing in it is trusted before it is checked:
 *   - file size >= 8; N <= size - 8 and N <= LB_ST_MAX_HEADER;
 *   - the header is copied into a NUL-terminated heap buffer and parsed with a length
 *     (cJSON_ParseWithLengthOpts); only whitespace may follow the JSON value;
 *   - the root is an object; every entry (but "__metadata__") is an object with a known
 *     dtype string, a shape array of <= LB_MAX_DIMS integral non-negative numbers and a
 *     data_offsets array of exactly two integral numbers begin <= end <= data size;
 *   - numel and the byte size are computed with overflow checks and must equal end - begin;
 *   - names are unique and non-empty tensors do not overlap.
 * The data itself is never read here; lb_tensor_to_f32 reads exactly nbytes from data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/safetensors.h"

/* The largest header we accept (the reference implementation's limit). */
#define LB_ST_MAX_HEADER 100000000ull
/* Largest integer a JSON number (a double) holds exactly: 2^53. */
#define LB_ST_MAX_JSON_INT 9007199254740992.0

/* ------------------------------------------------------------------------------------------
 * dtypes
 * ---------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    lb_dtype dtype;
    size_t size;
} k_dtypes[] = {
    {"F32", LB_F32, 4}, {"F16", LB_F16, 2}, {"BF16", LB_BF16, 2}, {"F64", LB_F64, 8},
    {"I64", LB_I64, 8}, {"I32", LB_I32, 4}, {"I16", LB_I16, 2},   {"I8", LB_I8, 1},
    {"U8", LB_U8, 1},   {"BOOL", LB_BOOL, 1},
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

const char *lb_dtype_name(lb_dtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dtype == d) return k_dtypes[i].name;
    return "?";
}

size_t lb_dtype_size(lb_dtype d) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (k_dtypes[i].dtype == d) return k_dtypes[i].size;
    return 0;
}

static int dtype_from_name(const char *s, lb_dtype *out) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(k_dtypes[i].name, s) == 0) {
            *out = k_dtypes[i].dtype;
            return 1;
        }
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * header validation
 * ---------------------------------------------------------------------------------------- */

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0.0) || d > LB_ST_MAX_JSON_INT || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const lb_tensor *)a)->name, ((const lb_tensor *)b)->name);
}

/* For the overlap check: order by begin, then end. Ranges are stored as offsets from data. */
typedef struct {
    uint64_t begin, end;
    const char *name;
} st_range;

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Parse one tensor entry e (named e->string) into *t. data/data_size: the data section.
 * Sets *begin and *end (offsets into data). Returns LABSE_OK or LABSE_E_FORMAT. */
static labse_status parse_entry(const char *path, const cJSON *e, const uint8_t *data,
                                uint64_t data_size, lb_tensor *t, uint64_t *begin,
                                uint64_t *end, labse_error *err) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return lb_err(err, LABSE_E_FORMAT, "%s: tensor \"%s\": entry is not a JSON object", path,
                      name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !jd->valuestring)
        return lb_err(err, LABSE_E_FORMAT, "%s: tensor \"%s\": missing or non-string \"dtype\"",
                      path, name);
    if (!dtype_from_name(jd->valuestring, &t->dtype))
        return lb_err(err, LABSE_E_FORMAT, "%s: tensor \"%s\": unknown dtype \"%.32s\"", path,
                      name, jd->valuestring);
    size_t esize = lb_dtype_size(t->dtype);

    if (!cJSON_IsArray(js))
        return lb_err(err, LABSE_E_FORMAT, "%s: tensor \"%s\": missing or non-array \"shape\"",
                      path, name);
    int ndim = cJSON_GetArraySize(js);
    if (ndim > LB_MAX_DIMS)
        return lb_err(err, LABSE_E_FORMAT, "%s: tensor \"%s\": ndim %d exceeds the maximum %d",
                      path, name, ndim, LB_MAX_DIMS);
    t->ndim = ndim;
    int any_zero = 0;
    int i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            return lb_err(err, LABSE_E_FORMAT,
                          "%s: tensor \"%s\": shape[%d] is not a non-negative integer (negative, "
                          "fractional or too large)",
                          path, name, i);
        t->shape[i] = (int64_t)v;
        if (v == 0) any_zero = 1;
    }
    /* numel = prod(shape), guarded: every factor < 2^53, and the product must stay
     * <= INT64_MAX / esize so that the byte size fits too. */
    int64_t numel = 1;
    if (any_zero) {
        numel = 0;
    } else {
        const int64_t lim = INT64_MAX / (int64_t)esize;
        for (i = 0; i < ndim; i++) {
            if (numel > lim / t->shape[i])
                return lb_err(err, LABSE_E_FORMAT,
                              "%s: tensor \"%s\": element count overflows (shape too large)",
                              path, name);
            numel *= t->shape[i];
        }
    }
    t->numel = numel;
    uint64_t nbytes = (uint64_t)numel * esize;

    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\": \"data_offsets\" is not an array of two integers", path,
                      name);
    uint64_t b, en;
    if (!json_uint(jo->child, &b) || !json_uint(jo->child->next, &en))
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\": data_offsets are not non-negative integers", path, name);
    if (b > en)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\": data_offsets begin %llu > end %llu", path, name,
                      (unsigned long long)b, (unsigned long long)en);
    if (en > data_size)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\": data_offsets [%llu, %llu] out of range: the data "
                      "section is %llu bytes",
                      path, name, (unsigned long long)b, (unsigned long long)en,
                      (unsigned long long)data_size);
    if (en - b != nbytes)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: tensor \"%s\": shape/offset mismatch: %lld elements of %s need %llu "
                      "bytes, data_offsets span %llu",
                      path, name, (long long)numel, jd->valuestring,
                      (unsigned long long)nbytes, (unsigned long long)(en - b));
    t->data = data + b;
    t->nbytes = (size_t)nbytes;
    *begin = b;
    *end = en;
    return LABSE_OK;
}

/* Validate the JSON header hdr[0..hlen) (NUL-terminated) and fill st->tensors. */
static labse_status parse_header(lb_safetensors *st, const char *hdr, size_t hlen,
                                 const uint8_t *data, uint64_t data_size, labse_error *err) {
    const char *path = st->path;
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &endp, 0);
    if (!root) {
        size_t at = (endp && endp >= hdr && endp <= hdr + hlen) ? (size_t)(endp - hdr) : 0;
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: header is not valid JSON (parse error near byte %zu of %zu)", path, at,
                      hlen);
    }
    labse_status s = LABSE_OK;
    st_range *ranges = NULL;
    /* Only whitespace (the writer pads with spaces) may follow the JSON value. */
    for (const char *p = endp; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: header is not valid JSON (trailing bytes after the value at byte %zu)",
                       path, (size_t)(p - hdr));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: header JSON is not an object", path);
        goto done;
    }
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (!e->string || strcmp(e->string, "__metadata__") != 0) n++;
    st->tensors = calloc(n ? (size_t)n : 1, sizeof *st->tensors);
    ranges = calloc(n ? (size_t)n : 1, sizeof *ranges);
    if (!st->tensors || !ranges) {
        s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory for %d tensor entries", path, n);
        goto done;
    }
    int k = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!e->string) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: header entry without a name", path);
            goto done;
        }
        if (strcmp(e->string, "__metadata__") == 0) continue;
        lb_tensor *t = &st->tensors[k];
        s = parse_entry(path, e, data, data_size, t, &ranges[k].begin, &ranges[k].end, err);
        if (s) goto done;
        char *nm = strdup(e->string);
        if (!nm) {
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        t->name = nm;
        ranges[k].name = nm;
        st->n = ++k;
    }
    /* No two non-empty tensors may share a byte. */
    qsort(ranges, (size_t)n, sizeof *ranges, cmp_range);
    const st_range *prev = NULL;
    for (int i = 0; i < n; i++) {
        if (ranges[i].begin == ranges[i].end) continue;
        if (prev && ranges[i].begin < prev->end) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] overlap", path,
                       prev->name, (unsigned long long)prev->begin,
                       (unsigned long long)prev->end, ranges[i].name,
                       (unsigned long long)ranges[i].begin, (unsigned long long)ranges[i].end);
            goto done;
        }
        if (!prev || ranges[i].end > prev->end) prev = &ranges[i];
    }
    /* Sorted by name for lb_st_find; duplicates are then adjacent. */
    qsort(st->tensors, (size_t)n, sizeof *st->tensors, cmp_tensor_name);
    for (int i = 1; i < n; i++)
        if (strcmp(st->tensors[i - 1].name, st->tensors[i].name) == 0) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: duplicate tensor name \"%s\"", path,
                       st->tensors[i].name);
            goto done;
        }
done:
    free(ranges);
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------------------------------------
 * open / close / find
 * ---------------------------------------------------------------------------------------- */

labse_status lb_st_open(const char *path, lb_safetensors **out, labse_error *err) {
    if (!path || !out) return lb_err(err, LABSE_E_INVALID, "lb_st_open: NULL argument");
    *out = NULL;
    lb_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    labse_status s = LABSE_OK;
    char *hdr = NULL;
    int fd;
    do /* EINTR retried */
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        s = lb_err(err, LABSE_E_IO, "%s: not a regular file", path);
        goto fail;
    }
    if (sb.st_size < 8) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: file is truncated: %lld bytes, shorter than the 8-byte header length",
                   path, (long long)sb.st_size);
        goto fail;
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        s = lb_err(err, LABSE_E_IO, "%s: file too large to map", path);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot mmap %zu bytes: %s", path, st->size,
                   strerror(errno));
        goto fail;
    }
    st->map = m;
    close(fd);
    fd = -1;

    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | st->map[i];
    if (hlen > (uint64_t)st->size - 8) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                   (unsigned long long)hlen, st->size);
        goto fail;
    }
    if (hlen > LB_ST_MAX_HEADER) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes",
                   path, (unsigned long long)hlen, LB_ST_MAX_HEADER);
        goto fail;
    }
    /* A private NUL-terminated copy: the parser can never run off the mapping. */
    hdr = malloc((size_t)hlen + 1);
    if (!hdr) {
        s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory for a %llu-byte header", path,
                   (unsigned long long)hlen);
        goto fail;
    }
    memcpy(hdr, st->map + 8, (size_t)hlen);
    hdr[hlen] = '\0';
    if (memchr(hdr, '\0', (size_t)hlen)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: header is not valid JSON (contains a NUL byte)",
                   path);
        goto fail;
    }
    s = parse_header(st, hdr, (size_t)hlen, st->map + 8 + hlen, (uint64_t)st->size - 8 - hlen,
                     err);
    if (s) goto fail;
    free(hdr);
    *out = st;
    return LABSE_OK;
fail:
    free(hdr);
    if (fd >= 0) close(fd);
    lb_st_close(st);
    return s;
}

void lb_st_close(lb_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    if (st->map) munmap((void *)st->map, st->size);
    free(st->path);
    free(st);
}

const lb_tensor *lb_st_find(const lb_safetensors *st, const char *name) {
    if (!st || !name || st->n <= 0) return NULL;
    lb_tensor key;
    key.name = name;
    return bsearch(&key, st->tensors, (size_t)st->n, sizeof *st->tensors, cmp_tensor_name);
}

/* ------------------------------------------------------------------------------------------
 * conversion to fp32
 * ---------------------------------------------------------------------------------------- */

/* IEEE binary16 bits -> float, exactly, without branches (so the loop vectorises):
 *   e = 1..30 (normal):     move exponent/mantissa up 13 bits, rebias the exponent by 127-15;
 *   e = 31 (inf/NaN):       the same shift, exponent to 255, the NaN payload kept;
 *   e = 0 (zero/subnormal): mantissa * 2^-24, from an int->float conversion and a product
 *                           that is a normal float, so DAZ/FTZ modes cannot flush it.
 * The three candidates are computed and one is selected; the sign is or-ed in last. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t em = h & 0x7fffu, sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t sh = em << 13;
    uint32_t nrm = sh + (112u << 23), inf = sh + (224u << 23), sub;
    float fs = (float)(int32_t)em * 0x1p-24f;
    memcpy(&sub, &fs, 4);
    uint32_t m_sub = 0u - (uint32_t)(em < 0x400u), m_inf = 0u - (uint32_t)(em >= 0x7c00u);
    uint32_t bits = (sub & m_sub) | (inf & m_inf) | (nrm & ~(m_sub | m_inf)) | sign;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

labse_status lb_tensor_to_f32(const lb_tensor *t, float *dst, labse_error *err) {
    if (!t || (!dst && t->numel > 0))
        return lb_err(err, LABSE_E_INVALID, "lb_tensor_to_f32: NULL argument");
    const uint8_t *p = t->data;
    int64_t n = t->numel;
    if ((uint64_t)n * lb_dtype_size(t->dtype) != t->nbytes && t->dtype <= LB_BF16)
        return lb_err(err, LABSE_E_INVALID, "tensor \"%s\": inconsistent byte size", t->name);
    switch (t->dtype) {
    case LB_F32:
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (n) memcpy(dst, p, (size_t)n * 4);
#else
        for (int64_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                         (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&dst[i], &b, 4);
        }
#endif
        return LABSE_OK;
    case LB_F16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++)
            dst[i] = f16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return LABSE_OK;
    case LB_BF16:
#pragma omp parallel for schedule(static) if (n > (1 << 20))
        for (int64_t i = 0; i < n; i++)
            dst[i] = bf16_to_f32((uint16_t)(p[2 * i] | (p[2 * i + 1] << 8)));
        return LABSE_OK;
    default:
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "tensor \"%s\": dtype %s cannot be converted to F32 (F32, F16, BF16 only)",
                      t->name, lb_dtype_name(t->dtype));
    }
}
