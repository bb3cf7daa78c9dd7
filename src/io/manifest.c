/* manifest.c — manifest.json: deterministic writer over io/atomic_file, the run-manifest
 * reader and the parts-listing reader over cJSON. See manifest.h. */
#include "io/manifest.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "io/atomic_file.h"

void lb_manifest_free(lb_manifest *m) {
    if (!m) return;
    free(m->model);
    free(m->input_path);
    free(m->parts);
    lb_qcalib_free(&m->calib);
    memset(m, 0, sizeof *m);
}

int lb_manifest_add_part(lb_manifest *m, const lb_manifest_part *p) {
    if (m->n_parts == m->cap_parts) {
        size_t c = m->cap_parts ? 2 * m->cap_parts : 16;
        lb_manifest_part *np = realloc(m->parts, c * sizeof *np);
        if (!np) return -1;
        m->parts = np;
        m->cap_parts = c;
    }
    m->parts[m->n_parts++] = *p;
    return 0;
}

/* A JSON string literal of s (escapes ", \, control bytes; other bytes as they are). */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* The "calibration" line of an int8 manifest: the ranges as "%.9g" decimals (9 significant
 * digits give every float32 back exactly). */
static void calib_print(FILE *f, const lb_qcalib *c) {
    fputs("  \"calibration\": {\"source\": ", f);
    json_str(f, c->source);
    fprintf(f, ", \"rows\": %" PRIu64 ", \"ranges_dtype\": \"%s\"", c->rows,
            c->f16 ? "float16" : "float32");
    for (int k = 0; k < 2; k++) {
        const float *v = k ? c->hi : c->lo;
        fprintf(f, ", \"%s\": [", k ? "max" : "min");
        for (size_t j = 0; j < c->dim; j++) fprintf(f, "%s%.9g", j ? ", " : "", (double)v[j]);
        fputc(']', f);
    }
    fputs("},\n", f);
}

/* The manifest's bytes into f (fixed key order, no time stamps). */
static void manifest_print(FILE *f, const lb_manifest *m) {
    fprintf(f, "{\n  \"format\": %d,\n  \"model\": ", m->format);
    json_str(f, m->model ? m->model : "");
    const char *fname = lb_qformat_name(m->qformat);
    fprintf(f, ",\n  \"dim\": %d,\n  \"max_length\": %d,\n  \"dtype\": \"%s\",\n", m->dim,
            m->max_length, fname ? fname : "float32");
    if (m->qformat == LB_Q_INT8 && m->calib.dim) calib_print(f, &m->calib);
    fprintf(f, "  \"part_rows\": %" PRIu64 ",\n  \"input\": {\"path\": ", m->part_rows);
    json_str(f, m->input_path ? m->input_path : "");
    fprintf(f, ", \"size\": %" PRIu64 ", \"fingerprint\": ", m->input_size);
    if (m->fingerprint[0])
        fprintf(f, "\"sha256-ends-1MiB:%s\"", m->fingerprint);
    else
        fputs("null", f);
    /* Only when not plain lines of an uncompressed input: older manifests stay as they were. */
    if (m->compression[0])
        fprintf(f, ", \"compression\": \"%s\", \"data_size\": %" PRIu64, m->compression,
                m->data_size);
    if (m->records[0]) {
        fputs(", \"records\": ", f);
        json_str(f, m->records);
    }
    fputs("},\n", f);
    if (m->dedup_slots) { /* only with --dedup: other manifests stay as they were */
        uint64_t dups = 0;
        for (size_t i = 0; i < m->n_parts; i++) dups += m->parts[i].duplicates;
        fprintf(f, "  \"dedup\": {\"table\": %zu, \"duplicates\": %" PRIu64 "},\n",
                m->dedup_slots, dups);
    }
    fprintf(f,
            "  \"shard\": {\"index\": %d, \"count\": %d, \"byte_start\": %" PRIu64
            ", \"byte_end\": %" PRIu64 ", \"line_start\": %" PRIu64 ", \"lines\": %" PRIu64
            "},\n",
            m->shard_index, m->shard_count, m->byte_start, m->byte_end, m->line_start, m->lines);
    fputs("  \"parts\": [", f);
    for (size_t i = 0; i < m->n_parts; i++) {
        const lb_manifest_part *p = &m->parts[i];
        fprintf(f,
                "%s\n    {\"file\": ", i ? "," : "");
        json_str(f, p->file); /* a name read from a manifest may hold any byte but '/' */
        fprintf(f,
                ", \"first_line\": %" PRIu64 ", \"rows\": %" PRIu64
                ", \"byte_start\": %" PRIu64 ", \"byte_end\": %" PRIu64
                ", \"input_sha256\": ",
                p->first_line, p->rows, p->byte_start, p->byte_end);
        if (p->input_sha256[0])
            fprintf(f, "\"%s\"", p->input_sha256);
        else
            fputs("null", f);
        if (m->dedup_slots) fprintf(f, ", \"duplicates\": %" PRIu64, p->duplicates);
        if (p->xxh128[0])
            fprintf(f, ", \"xxh128\": \"%s\"}", p->xxh128);
        else
            fprintf(f, ", \"sha256\": \"%s\"}", p->sha256);
    }
    fprintf(f, "%s],\n  \"complete\": %s\n}\n", m->n_parts ? "\n  " : "",
            m->complete ? "true" : "false");
}

labse_status lb_manifest_write(const char *dir, const lb_manifest *m, labse_error *err) {
    size_t dl = strlen(dir);
    char *path = malloc(dl + 32);
    if (!path) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    snprintf(path, dl + 32, "%s/manifest.json", dir);
    /* The text first (in memory), then one atomic file. */
    char *text = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&text, &len);
    if (!mf) {
        free(path);
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", dir);
    }
    manifest_print(mf, m);
    int bad = ferror(mf);
    if (fclose(mf) != 0 || bad || !text) {
        free(text);
        free(path);
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", dir);
    }
    lb_afile *f = NULL;
    labse_status s = lb_afile_open(path, &f, err);
    if (s == LABSE_OK && (s = lb_afile_write(f, text, len, err)) != LABSE_OK) lb_afile_abort(f);
    if (s == LABSE_OK) s = lb_afile_commit(f, err);
    free(text);
    free(path);
    return s;
}

/* Number member k of o as a non-negative integer < 2^53. */
static int get_u64(const cJSON *o, const char *k, uint64_t *v) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(j) || j->valuedouble < 0 || j->valuedouble > 9007199254740992.0 ||
        j->valuedouble != (double)(uint64_t)j->valuedouble)
        return 0;
    *v = (uint64_t)j->valuedouble;
    return 1;
}

/* 1 when s is exactly n lower-case hex digits. */
static int hex_str(const char *s, size_t n) {
    if (strlen(s) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* 1 when j is a string of exactly n lower-case hex digits. */
static int is_hex(const cJSON *j, size_t n) { return cJSON_IsString(j) && hex_str(j->valuestring, n); }

static int get_int(const cJSON *o, const char *k, int *v) {
    uint64_t u;
    if (!get_u64(o, k, &u) || u > INT32_MAX) return 0;
    *v = (int)u;
    return 1;
}

/* "dtype" j: a format name (io/quant.h, long names only) into m->qformat, m->dtype,
 * m->has_dtype. 1, or 0 when j is not one. */
static int format_of(const cJSON *j, lb_manifest *m) {
    lb_qformat f;
    if (!cJSON_IsString(j) || !lb_qformat_parse(j->valuestring, &f) ||
        strcmp(j->valuestring, lb_qformat_name(f)) != 0)
        return 0;
    m->qformat = f;
    m->dtype = lb_qformat_npy(f);
    m->has_dtype = 1;
    return 1;
}

/* A finite float32 from JSON number j. 1, or 0 when j is not one. */
static int get_f32(const cJSON *j, float *v) {
    if (!cJSON_IsNumber(j)) return 0;
    float x = (float)j->valuedouble;
    if (!isfinite(x)) return 0;
    *v = x;
    return 1;
}

/* "calibration" object j of an int8 manifest of dim into *c. 0, or -1 (c left zeroed). */
static int calib_read(const cJSON *j, size_t dim, lb_qcalib *c) {
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(j, "source");
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(j, "ranges_dtype");
    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(j, "min");
    const cJSON *hi = cJSON_GetObjectItemCaseSensitive(j, "max");
    uint64_t rows;
    if (!cJSON_IsString(src) || strlen(src->valuestring) >= sizeof c->source ||
        !cJSON_IsString(rd) || !get_u64(j, "rows", &rows) || dim == 0 ||
        (strcmp(rd->valuestring, "float32") != 0 && strcmp(rd->valuestring, "float16") != 0) ||
        !cJSON_IsArray(lo) || !cJSON_IsArray(hi) || (size_t)cJSON_GetArraySize(lo) != dim ||
        (size_t)cJSON_GetArraySize(hi) != dim)
        return -1;
    float *a = malloc(dim * sizeof *a), *b = malloc(dim * sizeof *b);
    size_t k = 0;
    const cJSON *x, *y = hi ? hi->child : NULL;
    cJSON_ArrayForEach(x, lo) {
        if (!a || !b || !y || !get_f32(x, &a[k]) || !get_f32(y, &b[k]) || a[k] > b[k]) break;
        y = y->next;
        k++;
    }
    if (k != dim) {
        free(a);
        free(b);
        return -1;
    }
    c->dim = dim;
    c->lo = a;
    c->hi = b;
    c->f16 = strcmp(rd->valuestring, "float16") == 0;
    c->rows = rows;
    strcpy(c->source, src->valuestring);
    return 0;
}

/* Read path and parse it. *root: the document (caller deletes), NULL when not JSON. */
static labse_status load_json(const char *path, cJSON **root, int *absent, labse_error *err) {
    *root = NULL;
    if (absent) *absent = 0;
    FILE *f;
    do /* EINTR retried */
        f = fopen(path, "rb");
    while (!f && errno == EINTR);
    if (!f) {
        if (absent) *absent = errno == ENOENT;
        return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 65536;
            char *nb = realloc(text, cap);
            if (!nb) {
                free(text);
                fclose(f);
                return lb_err(err, LABSE_E_NOMEM, "out of memory");
            }
            text = nb;
        }
        size_t r = fread(text + len, 1, cap - len, f);
        if (r == 0) break;
        len += r;
    }
    int rerr = ferror(f), rerrno = errno; /* fread sets errno with the error flag */
    fclose(f);
    if (rerr) {
        free(text);
        return lb_err(err, LABSE_E_IO, "%s: read failed: %s", path, strerror(rerrno));
    }
    *root = cJSON_ParseWithLength(text ? text : "", len);
    free(text);
    return LABSE_OK;
}

labse_status lb_manifest_read(const char *dir, lb_manifest *m, int *absent, labse_error *err) {
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    cJSON *root;
    labse_status s = load_json(path, &root, absent, err);
    if (s != LABSE_OK) return s;
#define BAD(what) do { s = lb_err(err, LABSE_E_FORMAT, "%s: %s", path, what); goto out; } while (0)
    if (!root) BAD("not valid JSON");
    const cJSON *j;
    if (!get_int(root, "format", &m->format) || m->format != 1) BAD("\"format\" is not 1");
    j = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(j) || !(m->model = strdup(j->valuestring))) BAD("bad \"model\"");
    if (!get_int(root, "dim", &m->dim) || !get_int(root, "max_length", &m->max_length))
        BAD("bad \"dim\" or \"max_length\"");
    j = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (!format_of(j, m))
        BAD("\"dtype\" is not float32, float16, bfloat16, int8, ubinary or binary");
    j = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    if (j && (m->qformat != LB_Q_INT8 || calib_read(j, (size_t)m->dim, &m->calib) != 0))
        BAD("bad \"calibration\" (int8 only: source, rows, ranges_dtype, min and max of dim "
            "numbers)");
    if (!get_u64(root, "part_rows", &m->part_rows)) BAD("bad \"part_rows\"");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    j = cJSON_GetObjectItemCaseSensitive(in, "path");
    if (!cJSON_IsString(j) || !(m->input_path = strdup(j->valuestring))) BAD("bad \"input\"");
    if (!get_u64(in, "size", &m->input_size)) BAD("bad \"input.size\"");
    j = cJSON_GetObjectItemCaseSensitive(in, "fingerprint");
    if (cJSON_IsString(j)) {
        const char *v = j->valuestring, *pre = "sha256-ends-1MiB:";
        if (strncmp(v, pre, strlen(pre)) != 0 || !hex_str(v + strlen(pre), 64))
            BAD("bad \"input.fingerprint\"");
        memcpy(m->fingerprint, v + strlen(pre), 65);
    } else if (!cJSON_IsNull(j)) {
        BAD("bad \"input.fingerprint\"");
    }
    m->data_size = m->input_size; /* optional fields, written when they differ from plain */
    j = cJSON_GetObjectItemCaseSensitive(in, "compression");
    if (j) {
        if (!cJSON_IsString(j) || !get_u64(in, "data_size", &m->data_size) ||
            (strcmp(j->valuestring, "gzip") != 0 && strcmp(j->valuestring, "zstd") != 0 &&
             strcmp(j->valuestring, "xz") != 0))
            BAD("bad \"input.compression\" or \"input.data_size\"");
        strcpy(m->compression, j->valuestring);
    }
    j = cJSON_GetObjectItemCaseSensitive(in, "records");
    if (j) {
        if (!cJSON_IsString(j) || !j->valuestring[0] ||
            strlen(j->valuestring) >= sizeof m->records)
            BAD("bad \"input.records\"");
        strcpy(m->records, j->valuestring);
    }
    const cJSON *dd = cJSON_GetObjectItemCaseSensitive(root, "dedup");
    if (dd) {
        uint64_t t;
        if (!get_u64(dd, "table", &t) || t < 1 || t > ((uint64_t)1 << 24))
            BAD("bad \"dedup.table\"");
        m->dedup_slots = (size_t)t;
    }
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(root, "shard");
    if (!get_int(sh, "index", &m->shard_index) || !get_int(sh, "count", &m->shard_count) ||
        !get_u64(sh, "byte_start", &m->byte_start) || !get_u64(sh, "byte_end", &m->byte_end) ||
        !get_u64(sh, "line_start", &m->line_start) || !get_u64(sh, "lines", &m->lines))
        BAD("bad \"shard\"");
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
    if (!cJSON_IsArray(parts)) BAD("no \"parts\" array");
    const cJSON *p;
    cJSON_ArrayForEach(p, parts) {
        lb_manifest_part q;
        memset(&q, 0, sizeof q);
        const cJSON *jf = cJSON_GetObjectItemCaseSensitive(p, "file");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(p, "sha256");
        const cJSON *jx = cJSON_GetObjectItemCaseSensitive(p, "xxh128");
        if (!js == !jx || (js && !is_hex(js, 64)) || (jx && !is_hex(jx, 32)))
            BAD("a part needs one checksum: \"xxh128\" (32 hex digits) or \"sha256\" (64)");
        const cJSON *ji = cJSON_GetObjectItemCaseSensitive(p, "input_sha256");
        if (!cJSON_IsNull(ji) && !is_hex(ji, 64))
            BAD("a part's \"input_sha256\" is not 64 hex digits or null");
        if (!cJSON_IsString(jf) || strlen(jf->valuestring) >= LB_MANIFEST_RUN_FILE_MAX ||
            strchr(jf->valuestring, '/') || !get_u64(p, "first_line", &q.first_line) ||
            !get_u64(p, "rows", &q.rows) || !get_u64(p, "byte_start", &q.byte_start) ||
            !get_u64(p, "byte_end", &q.byte_end))
            BAD("a part lacks file/first_line/rows/byte_start/byte_end");
        strcpy(q.file, jf->valuestring);
        if (js) memcpy(q.sha256, js->valuestring, 65);
        if (jx) memcpy(q.xxh128, jx->valuestring, 33);
        if (cJSON_IsString(ji)) memcpy(q.input_sha256, ji->valuestring, 65);
        if (cJSON_GetObjectItemCaseSensitive(p, "duplicates") &&
            !get_u64(p, "duplicates", &q.duplicates))
            BAD("a part's \"duplicates\" is not a count");
        if (lb_manifest_add_part(m, &q) != 0) {
            s = lb_err(err, LABSE_E_NOMEM, "out of memory");
            goto out;
        }
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "complete");
    if (!cJSON_IsBool(j)) BAD("bad \"complete\"");
    m->complete = cJSON_IsTrue(j);
#undef BAD
out:
    cJSON_Delete(root);
    if (s != LABSE_OK) lb_manifest_free(m);
    return s;
}

labse_status lb_manifest_read_parts(const char *dir, lb_manifest *m, labse_error *err) {
    memset(m, 0, sizeof *m);
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    cJSON *root;
    labse_status s = load_json(path, &root, NULL, err);
    if (s != LABSE_OK) return s;
    if (!root) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not valid JSON", path);
        goto out;
    }
    const cJSON *jdt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (jdt && !format_of(jdt, m)) {
        s = lb_err(err, LABSE_E_FORMAT,
                   "%s: \"dtype\" must be float32, float16, bfloat16, int8, ubinary or binary",
                   path);
        goto out;
    }
    const cJSON *jdim = cJSON_GetObjectItemCaseSensitive(root, "dim");
    if (jdim && (!cJSON_IsNumber(jdim) || jdim->valuedouble < 1 || jdim->valuedouble > 1e6 ||
                 jdim->valuedouble != (double)(int)jdim->valuedouble)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: \"dim\" must be a positive integer", path);
        goto out;
    }
    m->dim = jdim ? (int)jdim->valuedouble : 0;
    const cJSON *parts = cJSON_GetObjectItemCaseSensitive(root, "parts");
    if (!cJSON_IsArray(parts)) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: no \"parts\" array", path);
        goto out;
    }
    size_t i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, parts) {
        lb_manifest_part q;
        memset(&q, 0, sizeof q);
        const cJSON *jf = cJSON_GetObjectItemCaseSensitive(p, "file");
        if (!cJSON_IsString(jf) || !jf->valuestring[0] || jf->valuestring[0] == '/' ||
            strstr(jf->valuestring, "..") || strlen(jf->valuestring) >= sizeof q.file ||
            !get_u64(p, "first_line", &q.first_line) || !get_u64(p, "rows", &q.rows)) {
            s = lb_err(err, LABSE_E_FORMAT,
                       "%s: part %zu needs \"file\" (a relative name without '..'), "
                       "\"first_line\" and \"rows\" (non-negative integers)",
                       path, i);
            goto out;
        }
        strcpy(q.file, jf->valuestring);
        if (lb_manifest_add_part(m, &q) != 0) {
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
            goto out;
        }
        i++;
    }
out:
    cJSON_Delete(root);
    if (s != LABSE_OK) lb_manifest_free(m);
    return s;
}

labse_status lb_json_read(const char *path, struct cJSON **root, int *absent, labse_error *err) {
    return load_json(path, root, absent, err);
}
