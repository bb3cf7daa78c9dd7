/* pipe_out.c — the output side of the pipeline: float16 conversion, a streaming .npy writer
 * (temporary name, checksum on the way, header fixed at the end, fsync, rename, directory
 * fsync) and manifest.json (deterministic writer, validating reader over cJSON).
 * See pipe_internal.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipe_internal.h"
#include "base/sha256.h"

/* ==========================================================================================
 * Streaming .npy writer
 * ========================================================================================== */

struct lb_npys {
    char *path, *tmp;
    int fd;
    lb_npy_dtype dtype;
    uint64_t cols, rows_hint, rows;
    size_t hlen;
    lb_sha256 sha;
    uint16_t *conv;       /* f16 conversion buffer */
    size_t conv_cap;      /* in elements */
};

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fsync_dir_of(const char *path) {
    char *d = strdup(path);
    if (!d) return;
    char *sl = strrchr(d, '/');
    const char *dir = ".";
    if (sl == d)
        dir = "/";
    else if (sl) {
        *sl = '\0';
        dir = d;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(d);
}

static void npys_free(lb_npys *w) {
    free(w->path);
    free(w->tmp);
    free(w->conv);
    free(w);
}

labse_status lb_npys_open(const char *path, lb_npy_dtype dtype, uint64_t rows_hint,
                          uint64_t cols, lb_npys **out, labse_error *err) {
    lb_npys *w = calloc(1, sizeof *w);
    size_t pl = strlen(path);
    if (!w || !(w->path = strdup(path)) || !(w->tmp = malloc(pl + 32))) {
        if (w) npys_free(w);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    snprintf(w->tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    w->dtype = dtype;
    w->cols = cols;
    w->rows_hint = rows_hint;
    (void)unlink(w->tmp); /* a leftover of an earlier process with our pid */
    w->fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666); /* RDWR: rehash */
    if (w->fd < 0) {
        lb_err(err, LABSE_E_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
        npys_free(w);
        return LABSE_E_IO;
    }
    char hdr[LB_NPY_HEADER_MAX];
    w->hlen = lb_npy_header(hdr, dtype, rows_hint, cols);
    lb_sha256_init(&w->sha);
    if (!w->hlen || write_all(w->fd, hdr, w->hlen) != 0) {
        lb_err(err, LABSE_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
        lb_npys_abort(w);
        return LABSE_E_IO;
    }
    lb_sha256_update(&w->sha, hdr, w->hlen);
    *out = w;
    return LABSE_OK;
}

labse_status lb_npys_append_raw(lb_npys *w, const void *data, size_t n, labse_error *err) {
    size_t bytes = n * (size_t)w->cols * lb_npy_dtype_size(w->dtype);
    if (w->fd < 0) return lb_err(err, LABSE_E_IO, "%s: earlier write failed", w->tmp);
    if (write_all(w->fd, data, bytes) != 0) {
        int e = errno;
        close(w->fd);
        w->fd = -1;
        return lb_err(err, LABSE_E_IO, "%s: write failed: %s", w->tmp, strerror(e));
    }
    lb_sha256_update(&w->sha, data, bytes);
    w->rows += n;
    return LABSE_OK;
}

labse_status lb_npys_append(lb_npys *w, const float *rows, size_t n, labse_error *err) {
    if (w->dtype == LB_NPY_F32) return lb_npys_append_raw(w, rows, n, err); /* little-endian */
    size_t cnt = n * (size_t)w->cols;
    if (cnt > w->conv_cap) {
        uint16_t *nb = realloc(w->conv, cnt * sizeof *nb);
        if (!nb) return lb_err(err, LABSE_E_NOMEM, "out of memory for float16 rows");
        w->conv = nb;
        w->conv_cap = cnt;
    }
    for (size_t i = 0; i < cnt; i++) w->conv[i] = lb_f32_to_f16(rows[i]);
    return lb_npys_append_raw(w, w->conv, n, err);
}

uint64_t lb_npys_rows(const lb_npys *w) { return w->rows; }

/* Hash the whole file (after a header rewrite). */
static int rehash(lb_npys *w) {
    lb_sha256_init(&w->sha);
    char *buf = malloc((size_t)1 << 20);
    if (!buf) return -1;
    uint64_t off = 0;
    for (;;) {
        ssize_t r = pread(w->fd, buf, (size_t)1 << 20, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            free(buf);
            return -1;
        }
        if (r == 0) break;
        lb_sha256_update(&w->sha, buf, (size_t)r);
        off += (uint64_t)r;
    }
    free(buf);
    return 0;
}

labse_status lb_npys_commit(lb_npys *w, char sha_hex[65], labse_error *err) {
    labse_status s = LABSE_OK;
    if (w->fd < 0) {
        s = lb_err(err, LABSE_E_IO, "%s: earlier write failed", w->tmp);
        goto fail;
    }
    if (w->rows != w->rows_hint) {
        char hdr[LB_NPY_HEADER_MAX];
        size_t hl = lb_npy_header(hdr, w->dtype, w->rows, w->cols);
        if (hl != w->hlen) {
            s = lb_err(err, LABSE_E_IO, "%s: header length changed (%zu -> %zu)", w->tmp,
                       w->hlen, hl);
            goto fail;
        }
        if (pwrite(w->fd, hdr, hl, 0) != (ssize_t)hl || rehash(w) != 0) {
            s = lb_err(err, LABSE_E_IO, "%s: write failed: %s", w->tmp, strerror(errno));
            goto fail;
        }
    }
    if (fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS) {
        s = lb_err(err, LABSE_E_IO, "%s: fsync failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: close failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    if (rename(w->tmp, w->path) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot rename %s onto it: %s", w->path, w->tmp,
                   strerror(errno));
        goto fail;
    }
    fsync_dir_of(w->path);
    if (sha_hex) {
        uint8_t d[32];
        lb_sha256_final(&w->sha, d);
        lb_sha256_hex(d, sha_hex);
    }
    npys_free(w);
    return LABSE_OK;
fail:
    lb_npys_abort(w);
    return s;
}

void lb_npys_abort(lb_npys *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    npys_free(w);
}

/* ==========================================================================================
 * manifest.json
 * ========================================================================================== */

void lb_manifest_free(lb_manifest *m) {
    if (!m) return;
    free(m->model);
    free(m->input_path);
    free(m->parts);
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

labse_status lb_manifest_write(const char *dir, const lb_manifest *m, labse_error *err) {
    size_t dl = strlen(dir);
    char *path = malloc(dl + 32), *tmp = malloc(dl + 64);
    if (!path || !tmp) {
        free(path);
        free(tmp);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    snprintf(path, dl + 32, "%s/manifest.json", dir);
    snprintf(tmp, dl + 64, "%s/manifest.json.tmp.%ld", dir, (long)getpid());
    labse_status s = LABSE_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        if (fd >= 0) close(fd);
        goto out;
    }
    fprintf(f, "{\n  \"format\": %d,\n  \"model\": ", m->format);
    json_str(f, m->model ? m->model : "");
    fprintf(f, ",\n  \"dim\": %d,\n  \"max_length\": %d,\n  \"dtype\": \"%s\",\n", m->dim,
            m->max_length, m->dtype == LB_NPY_F16 ? "float16" : "float32");
    fprintf(f, "  \"part_rows\": %" PRIu64 ",\n  \"input\": {\"path\": ", m->part_rows);
    json_str(f, m->input_path ? m->input_path : "");
    fprintf(f, ", \"size\": %" PRIu64 ", \"fingerprint\": ", m->input_size);
    if (m->fingerprint[0])
        fprintf(f, "\"sha256-ends-1MiB:%s\"},\n", m->fingerprint);
    else
        fputs("null},\n", f);
    fprintf(f,
            "  \"shard\": {\"index\": %d, \"count\": %d, \"byte_start\": %" PRIu64
            ", \"byte_end\": %" PRIu64 ", \"line_start\": %" PRIu64 ", \"lines\": %" PRIu64
            "},\n",
            m->shard_index, m->shard_count, m->byte_start, m->byte_end, m->line_start, m->lines);
    fputs("  \"parts\": [", f);
    for (size_t i = 0; i < m->n_parts; i++) {
        const lb_manifest_part *p = &m->parts[i];
        fprintf(f,
                "%s\n    {\"file\": \"%s\", \"first_line\": %" PRIu64 ", \"rows\": %" PRIu64
                ", \"byte_start\": %" PRIu64 ", \"byte_end\": %" PRIu64 ", \"sha256\": \"%s\"}",
                i ? "," : "", p->file, p->first_line, p->rows, p->byte_start, p->byte_end,
                p->sha256);
    }
    fprintf(f, "%s],\n  \"complete\": %s\n}\n", m->n_parts ? "\n  " : "",
            m->complete ? "true" : "false");
    if (fflush(f) != 0 || ferror(f)) {
        s = lb_err(err, LABSE_E_IO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        goto out;
    }
    if (fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS) {
        s = lb_err(err, LABSE_E_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        goto out;
    }
    if (fclose(f) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: write failed: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        s = lb_err(err, LABSE_E_IO, "%s: cannot rename onto it: %s", path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fsync_dir_of(path);
out:
    free(path);
    free(tmp);
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

static int get_int(const cJSON *o, const char *k, int *v) {
    uint64_t u;
    if (!get_u64(o, k, &u) || u > INT32_MAX) return 0;
    *v = (int)u;
    return 1;
}

labse_status lb_manifest_read(const char *dir, lb_manifest *m, int *absent, labse_error *err) {
    memset(m, 0, sizeof *m);
    if (absent) *absent = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    FILE *f = fopen(path, "rb");
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
    fclose(f);
    cJSON *root = cJSON_ParseWithLength(text ? text : "", len);
    free(text);
    labse_status s = LABSE_OK;
#define BAD(what) do { s = lb_err(err, LABSE_E_FORMAT, "%s: %s", path, what); goto out; } while (0)
    if (!root) BAD("not valid JSON");
    const cJSON *j;
    if (!get_int(root, "format", &m->format) || m->format != 1) BAD("\"format\" is not 1");
    j = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsString(j) || !(m->model = strdup(j->valuestring))) BAD("bad \"model\"");
    if (!get_int(root, "dim", &m->dim) || !get_int(root, "max_length", &m->max_length))
        BAD("bad \"dim\" or \"max_length\"");
    j = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (cJSON_IsString(j) && strcmp(j->valuestring, "float32") == 0)
        m->dtype = LB_NPY_F32;
    else if (cJSON_IsString(j) && strcmp(j->valuestring, "float16") == 0)
        m->dtype = LB_NPY_F16;
    else
        BAD("\"dtype\" is not \"float32\" or \"float16\"");
    if (!get_u64(root, "part_rows", &m->part_rows)) BAD("bad \"part_rows\"");
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    j = cJSON_GetObjectItemCaseSensitive(in, "path");
    if (!cJSON_IsString(j) || !(m->input_path = strdup(j->valuestring))) BAD("bad \"input\"");
    if (!get_u64(in, "size", &m->input_size)) BAD("bad \"input.size\"");
    j = cJSON_GetObjectItemCaseSensitive(in, "fingerprint");
    if (cJSON_IsString(j)) {
        const char *v = j->valuestring, *pre = "sha256-ends-1MiB:";
        if (strncmp(v, pre, strlen(pre)) != 0 || strlen(v) != strlen(pre) + 64)
            BAD("bad \"input.fingerprint\"");
        memcpy(m->fingerprint, v + strlen(pre), 65);
    } else if (!cJSON_IsNull(j)) {
        BAD("bad \"input.fingerprint\"");
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
        if (!cJSON_IsString(jf) || strlen(jf->valuestring) >= sizeof q.file ||
            strchr(jf->valuestring, '/') || !cJSON_IsString(js) ||
            strlen(js->valuestring) != 64 || !get_u64(p, "first_line", &q.first_line) ||
            !get_u64(p, "rows", &q.rows) || !get_u64(p, "byte_start", &q.byte_start) ||
            !get_u64(p, "byte_end", &q.byte_end))
            BAD("a part lacks file/first_line/rows/byte_start/byte_end/sha256");
        strcpy(q.file, jf->valuestring);
        memcpy(q.sha256, js->valuestring, 65);
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
