/* pipe_files_merge.c — reading a many-files output back (pipeline.h, "Many input files"):
 * lb_files_collect lists its complete run folders in row order, checking that every input of
 * files.json is there and complete (a split input's shard folders as `labse merge` checks
 * them, through lb_merge_check); lb_files_merge_npy concatenates their rows into one .npy. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/pipe_internal.h"

/* A growing array of heap strings. */
typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static int strv_push(strv *a, const char *s) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        char **nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    if (!(a->v[a->n] = strdup(s))) return -1;
    a->n++;
    return 0;
}

static void strv_free(strv *a) {
    for (size_t i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    memset(a, 0, sizeof *a);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The run folders of input i: sub itself when it holds manifest.json, else its shard
 * folders shard-JJJJJ-of-MMMMM (sorted). Empty when there is neither. */
static labse_status input_folders(const char *sub, strv *out, labse_error *err) {
    char mp[4096];
    struct stat sb;
    if ((size_t)snprintf(mp, sizeof mp, "%s/manifest.json", sub) >= sizeof mp)
        return lb_err(err, LABSE_E_INVALID, "%s: name too long", sub);
    if (stat(mp, &sb) == 0)
        return strv_push(out, sub) == 0 ? LABSE_OK : lb_err(err, LABSE_E_NOMEM, "out of memory");
    DIR *d = opendir(sub);
    if (!d) return LABSE_OK; /* absent: the caller names it */
    labse_status s = LABSE_OK;
    struct dirent *de;
    while (s == LABSE_OK && (de = readdir(d)) != NULL) {
        int j, m, len = 0;
        if (sscanf(de->d_name, "shard-%5d-of-%5d%n", &j, &m, &len) != 2 ||
            (size_t)len != strlen(de->d_name))
            continue;
        char p[4096];
        if ((size_t)snprintf(p, sizeof p, "%s/%s", sub, de->d_name) >= sizeof p)
            s = lb_err(err, LABSE_E_INVALID, "%s: name too long", sub);
        else if (strv_push(out, p) != 0) s = lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    closedir(d);
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return s;
}

/* The collection, also handing back the first input's manifest (dim, dtype) in *first (the
 * caller frees it). */
static labse_status collect(const char *dir, int check_input, strv *folders, uint64_t *rows,
                            lb_manifest *first, labse_error *err) {
    lb_files f;
    labse_status s = lb_files_record_read(dir, &f, NULL, err);
    if (s != LABSE_OK) return s;
    *rows = 0;
    for (size_t i = 0; i < f.n && s == LABSE_OK; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, f.names[i]);
        strv runs = {0};
        s = input_folders(sub, &runs, err);
        if (s == LABSE_OK && runs.n == 0)
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: input %zu of %zu (%s) is missing: its task has not run (or not "
                       "started it); run it, then merge",
                       sub, i + 1, f.n, f.paths[i]);
        int n = (int)runs.n;
        lb_manifest *ms = s == LABSE_OK ? calloc(runs.n, sizeof *ms) : NULL;
        int *by_index = s == LABSE_OK ? malloc(runs.n * sizeof *by_index) : NULL;
        if (s == LABSE_OK && (!ms || !by_index)) s = lb_err(err, LABSE_E_NOMEM, "out of memory");
        uint64_t lines = 0;
        if (s == LABSE_OK) {
            s = lb_merge_check((const char *const *)runs.v, n, check_input, ms, by_index, &lines,
                               err);
            if (s != LABSE_OK) {
                /* say which input of the list it is */
                labse_error e2 = *err;
                s = lb_err(err, s, "input %zu of %zu (%s): %s", i + 1, f.n, f.paths[i],
                           e2.message);
            }
        }
        if (s == LABSE_OK && ms[0].input_size != f.sizes[i])
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: encoded from %" PRIu64 " bytes, but %s lists %s with %" PRIu64, sub,
                       ms[0].input_size, LB_FILES_RECORD, f.paths[i], f.sizes[i]);
        for (int k = 0; k < n && s == LABSE_OK; k++)
            if (ms[by_index[k]].lines > 0 && strv_push(folders, runs.v[by_index[k]]) != 0)
                s = lb_err(err, LABSE_E_NOMEM, "out of memory");
        if (s == LABSE_OK && i == 0) {
            *first = ms[0]; /* moved: ms[0] is left zeroed, freeing it is a no-op */
            memset(&ms[0], 0, sizeof ms[0]);
        } else if (s == LABSE_OK &&
                   (strcmp(ms[0].model, first->model) != 0 || ms[0].dim != first->dim ||
                    ms[0].qformat != first->qformat || ms[0].max_length != first->max_length ||
                    strcmp(ms[0].records, first->records) != 0 ||
                    !lb_qcalib_same(&ms[0].calib, &first->calib))) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s and %s/%s: not of one run (model, dim, format, int8 calibration, "
                       "max_length or records differ)",
                       sub, dir, f.names[0]);
        }
        *rows += lines;
        for (int k = 0; k < n && ms; k++) lb_manifest_free(&ms[k]);
        free(ms);
        free(by_index);
        strv_free(&runs);
    }
    lb_files_free(&f);
    return s;
}

labse_status lb_files_collect(const char *dir, int check_input, char ***folders, size_t *n,
                              uint64_t *rows, labse_error *err) {
    strv v = {0};
    lb_manifest first;
    memset(&first, 0, sizeof first);
    uint64_t r = 0;
    labse_status s = collect(dir, check_input, &v, &r, &first, err);
    lb_manifest_free(&first);
    if (s != LABSE_OK) {
        strv_free(&v);
        return s;
    }
    *folders = v.v;
    *n = v.n;
    if (rows) *rows = r;
    return LABSE_OK;
}

labse_status lb_files_merge_npy(const char *dir, const char *npy_path, uint64_t *rows,
                                labse_error *err) {
    strv v = {0};
    lb_manifest first, m;
    memset(&first, 0, sizeof first);
    memset(&m, 0, sizeof m);
    uint64_t total = 0;
    lb_npys *w = NULL;
    labse_status s = collect(dir, 1, &v, &total, &first, err);
    if (s == LABSE_OK) /* a row of a quantised format has lb_qformat_cols columns, not dim */
        s = lb_npys_open(npy_path, first.dtype, total,
                         lb_qformat_cols(first.qformat, (uint64_t)first.dim), &w, err);
    if (s == LABSE_OK) (void)lb_npys_set_hash(w, LB_DIGEST_NONE); /* the merged file's hash is not recorded */
    for (size_t i = 0; i < v.n && s == LABSE_OK; i++) {
        s = lb_manifest_read(v.v[i], &m, NULL, err);
        for (size_t j = 0; j < m.n_parts && s == LABSE_OK; j++) {
            char src[4096];
            snprintf(src, sizeof src, "%s/%s", v.v[i], m.parts[j].file);
            s = lb_merge_append_part(w, src, &m.parts[j], &m, err);
        }
        lb_manifest_free(&m);
    }
    if (s == LABSE_OK) {
        s = lb_npys_commit(w, NULL, err);
        w = NULL;
    }
    lb_npys_abort(w);
    lb_manifest_free(&first);
    strv_free(&v);
    if (s == LABSE_OK && rows) *rows = total;
    return s;
}
