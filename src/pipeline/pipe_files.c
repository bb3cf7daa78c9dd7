/* pipe_files.c — the list of a many-files run (pipeline.h, "Many input files"): folder names
 * derived from the input paths, the list file of --input-list, the record files.json, and the
 * plan that deals the inputs to the tasks of --shard K/N. Encoding the list: pipe_files_run.c;
 * joining it: pipe_files_merge.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "pipeline/pipe_internal.h"
#include "io/atomic_file.h"

int lb_files_name(const char *path, char *out) {
    size_t o = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/') p++;
        const char *c = p;
        while (*p && *p != '/') p++;
        size_t len = (size_t)(p - c);
        if (len == 0 || (len == 1 && c[0] == '.')) continue;
        if (o > 0) {
            if (o + 2 > LB_FILES_NAME_MAX) return -1;
            out[o++] = '_';
            out[o++] = '_';
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)c[i];
            int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                     (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '+' || ch == '-';
            if (i == 0 && ch == '.') ok = 0;
            if (o + 1 > LB_FILES_NAME_MAX) return -1;
            out[o++] = ok ? (char)ch : '_';
        }
    }
    out[o] = '\0';
    return o == 0 ? -1 : 0;
}

void lb_files_free(lb_files *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        if (f->paths) free(f->paths[i]);
        if (f->names) free(f->names[i]);
    }
    free(f->paths);
    free(f->names);
    free(f->sizes);
    memset(f, 0, sizeof *f);
}

/* Allocate the arrays of f for n inputs (zeroed). -1 when out of memory (f left freeable). */
static int files_alloc(lb_files *f, size_t n) {
    memset(f, 0, sizeof *f);
    f->paths = calloc(n, sizeof *f->paths);
    f->names = calloc(n, sizeof *f->names);
    f->sizes = calloc(n, sizeof *f->sizes);
    f->n = n;
    return f->paths && f->names && f->sizes ? 0 : -1;
}

/* A name and its input's index, sorted for the collision check: names, then list order. */
typedef struct name_ix {
    const char *name;
    size_t i;
} name_ix;

static int cmp_name_ix(const void *a, const void *b) {
    const name_ix *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

labse_status lb_files_make(const char *const *paths, size_t n, lb_files *f, labse_error *err) {
    if (!paths || n == 0 || !f) return lb_err(err, LABSE_E_INVALID, "inputs: no input file");
    if (files_alloc(f, n) != 0) {
        lb_files_free(f);
        return lb_err(err, LABSE_E_NOMEM, "inputs: out of memory");
    }
    labse_status s = LABSE_OK;
    name_ix *ix = malloc(n * sizeof *ix);
    if (!ix) s = lb_err(err, LABSE_E_NOMEM, "inputs: out of memory");
    for (size_t i = 0; i < n && s == LABSE_OK; i++) {
        const char *p = paths[i];
        if (!p || !*p || strcmp(p, "-") == 0) {
            s = lb_err(err, LABSE_E_INVALID,
                       "input %zu: a list of inputs takes files, not '-' (stdin) or \"\"", i + 1);
            break;
        }
        char name[LB_FILES_NAME_MAX + 1];
        if (lb_files_name(p, name) != 0) {
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: gives no folder name (empty, or over %d bytes once derived)", p,
                       LB_FILES_NAME_MAX);
            break;
        }
        if (strcmp(name, LB_FILES_RECORD) == 0) {
            s = lb_err(err, LABSE_E_INVALID, "%s: its folder name would be the record %s", p,
                       LB_FILES_RECORD);
            break;
        }
        struct stat sb;
        if (stat(p, &sb) != 0) {
            s = lb_err(err, LABSE_E_IO, "%s: cannot open: %s", p, strerror(errno));
            break;
        }
        if (!S_ISREG(sb.st_mode)) {
            s = lb_err(err, LABSE_E_IO, "%s: not a regular file", p);
            break;
        }
        f->paths[i] = strdup(p);
        f->names[i] = strdup(name);
        f->sizes[i] = (uint64_t)sb.st_size;
        if (!f->paths[i] || !f->names[i]) s = lb_err(err, LABSE_E_NOMEM, "inputs: out of memory");
        ix[i].name = f->names[i];
        ix[i].i = i;
    }
    if (s == LABSE_OK) {
        qsort(ix, n, sizeof *ix, cmp_name_ix);
        for (size_t k = 1; k < n; k++)
            if (strcmp(ix[k - 1].name, ix[k].name) == 0) {
                s = lb_err(err, LABSE_E_INVALID,
                           "inputs %zu (%s) and %zu (%s) would both be written to the folder %s "
                           "(the name is derived from the path: README, \"Many files\"); "
                           "rename one or give it once",
                           ix[k - 1].i + 1, f->paths[ix[k - 1].i], ix[k].i + 1,
                           f->paths[ix[k].i], ix[k].name);
                break;
            }
    }
    free(ix);
    if (s != LABSE_OK) lb_files_free(f);
    return s;
}

labse_status lb_files_read_list(const char *list_path, char ***paths, size_t *n,
                                labse_error *err) {
    *paths = NULL;
    *n = 0;
    FILE *fp = fopen(list_path, "rb");
    if (!fp) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", list_path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, count = 0, alloc = 0, lineno = 0;
    char **v = NULL;
    labse_status s = LABSE_OK;
    ssize_t len;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r') line[--len] = '\0';
        if (strlen(line) != (size_t)len) {
            s = lb_err(err, LABSE_E_INVALID, "%s:%zu: a NUL byte in a path", list_path, lineno);
            break;
        }
        size_t b = strspn(line, " \t");
        if ((ssize_t)b == len) continue; /* blank: skipped */
        if (count == alloc) {
            size_t na = alloc ? alloc * 2 : 64;
            char **nv = realloc(v, na * sizeof *nv);
            if (!nv) {
                s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", list_path);
                break;
            }
            v = nv;
            alloc = na;
        }
        if (!(v[count] = strdup(line))) {
            s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", list_path);
            break;
        }
        count++;
    }
    if (s == LABSE_OK && ferror(fp))
        s = lb_err(err, LABSE_E_IO, "%s: read failed: %s", list_path, strerror(errno));
    if (s == LABSE_OK && count == 0)
        s = lb_err(err, LABSE_E_INVALID, "%s: the list names no input file", list_path);
    free(line);
    fclose(fp);
    if (s != LABSE_OK) {
        for (size_t i = 0; i < count; i++) free(v[i]);
        free(v);
        return s;
    }
    *paths = v;
    *n = count;
    return LABSE_OK;
}

/* The bytes of files.json for f (heap, NUL-terminated; NULL when out of memory). */
static char *record_text(const lb_files *f) {
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    int ok = root && cJSON_AddNumberToObject(root, "format", 1) &&
             (arr = cJSON_AddArrayToObject(root, "files")) != NULL;
    for (size_t i = 0; ok && i < f->n; i++) {
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(arr, o) && cJSON_AddStringToObject(o, "input", f->paths[i]) &&
             cJSON_AddStringToObject(o, "name", f->names[i]) &&
             cJSON_AddNumberToObject(o, "size", (double)f->sizes[i]);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return NULL;
    size_t l = strlen(text);
    char *t = malloc(l + 2); /* cJSON's allocator may not be malloc's: copy, add '\n' */
    if (t) {
        memcpy(t, text, l);
        t[l] = '\n';
        t[l + 1] = '\0';
    }
    cJSON_free(text);
    return t;
}

/* 1 when a and b list the same inputs (paths, names, sizes) in the same order. */
static int same_list(const lb_files *a, const lb_files *b) {
    if (a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->paths[i], b->paths[i]) != 0 || strcmp(a->names[i], b->names[i]) != 0 ||
            a->sizes[i] != b->sizes[i])
            return 0;
    return 1;
}

labse_status lb_files_record_write(const char *dir, const lb_files *f, labse_error *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, LB_FILES_RECORD) >= sizeof path)
        return lb_err(err, LABSE_E_INVALID, "%s: name too long", dir);
    lb_files old;
    int absent = 0;
    labse_status s = lb_files_record_read(dir, &old, &absent, err);
    if (s == LABSE_OK) {
        int same = same_list(&old, f);
        lb_files_free(&old);
        if (!same)
            return lb_err(err, LABSE_E_INVALID,
                          "%s lists other inputs (or other sizes) than this run: the folder "
                          "belongs to another list; give another output folder",
                          path);
        return LABSE_OK;
    }
    if (!absent) return s; /* unreadable or not a list: never overwritten */
    lb_err_clear(err);
    char *text = record_text(f);
    if (!text) return lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    lb_afile *af = NULL;
    s = lb_afile_open(path, &af, err);
    if (s == LABSE_OK) s = lb_afile_write(af, text, strlen(text), err);
    if (s == LABSE_OK)
        s = lb_afile_commit(af, err);
    else
        lb_afile_abort(af);
    free(text);
    return s;
}

int lb_files_is_output(const char *dir) {
    char path[4096];
    struct stat sb;
    return (size_t)snprintf(path, sizeof path, "%s/%s", dir, LB_FILES_RECORD) < sizeof path &&
           stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

labse_status lb_files_record_read(const char *dir, lb_files *f, int *absent, labse_error *err) {
    memset(f, 0, sizeof *f);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, LB_FILES_RECORD);
    cJSON *root = NULL;
    labse_status s = lb_json_read(path, &root, absent, err);
    if (s != LABSE_OK) return s;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "files");
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || !cJSON_IsNumber(fmt) || fmt->valuedouble != 1) {
        s = lb_err(err, LABSE_E_FORMAT, "%s: not a list of inputs (format 1, \"files\")", path);
    } else if (files_alloc(f, (size_t)n) != 0) {
        s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n && s == LABSE_OK; i++) {
        const cJSON *o = cJSON_GetArrayItem(arr, i);
        const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "input");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *sz = cJSON_GetObjectItemCaseSensitive(o, "size");
        char want[LB_FILES_NAME_MAX + 1];
        /* the name must be the one the rule derives: it is never a path of its own */
        if (!cJSON_IsString(in) || !cJSON_IsString(nm) || !cJSON_IsNumber(sz) ||
            sz->valuedouble < 0 || sz->valuedouble > 9007199254740992.0 ||
            lb_files_name(in->valuestring, want) != 0 || strcmp(want, nm->valuestring) != 0) {
            s = lb_err(err, LABSE_E_FORMAT, "%s: entry %d: bad \"input\", \"name\" or \"size\"",
                       path, i + 1);
            break;
        }
        f->paths[i] = strdup(in->valuestring);
        f->names[i] = strdup(nm->valuestring);
        f->sizes[i] = (uint64_t)sz->valuedouble;
        if (!f->paths[i] || !f->names[i]) s = lb_err(err, LABSE_E_NOMEM, "%s: out of memory", path);
    }
    cJSON_Delete(root);
    if (s != LABSE_OK) lb_files_free(f);
    return s;
}

/* Dealing order: larger pieces first, then list order, then range index. */
static int cmp_deal(const void *a, const void *b) {
    const lb_files_piece *x = a, *y = b;
    if (x->bytes != y->bytes) return x->bytes > y->bytes ? -1 : 1;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* List order: file, then range index. */
static int cmp_list(const void *a, const void *b) {
    const lb_files_piece *x = a, *y = b;
    if (x->file != y->file) return x->file < y->file ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Heap order of tasks: fewer bytes first, then the lower task. The initial heap 0..n-1 with
 * all loads 0 is valid. */
static int task_less(const uint64_t *load, int a, int b) {
    return load[a] < load[b] || (load[a] == load[b] && a < b);
}

labse_status lb_files_plan(const lb_files *f, int n_tasks, lb_files_piece **pieces,
                           size_t *n_pieces, labse_error *err) {
    *pieces = NULL;
    *n_pieces = 0;
    if (!f || f->n == 0 || n_tasks < 1 || n_tasks > 1000000)
        return lb_err(err, LABSE_E_INVALID, "plan: no inputs or %d tasks", n_tasks);
    uint64_t total = 0;
    for (size_t i = 0; i < f->n; i++) total += f->sizes[i];
    uint64_t t = total / (uint64_t)n_tasks;
    if (t == 0) t = 1;
    size_t np = 0;
    for (size_t i = 0; i < f->n; i++) {
        uint64_t c = n_tasks > 1 && f->sizes[i] > t ? (f->sizes[i] - 1) / t + 1 : 1;
        np += (size_t)(c < (uint64_t)n_tasks ? c : (uint64_t)n_tasks);
    }
    lb_files_piece *v = calloc(np, sizeof *v);
    uint64_t *load = calloc((size_t)n_tasks, sizeof *load);
    int *heap = malloc((size_t)n_tasks * sizeof *heap);
    if (!v || !load || !heap) {
        free(v);
        free(load);
        free(heap);
        return lb_err(err, LABSE_E_NOMEM, "plan: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++) {
        uint64_t c = n_tasks > 1 && f->sizes[i] > t ? (f->sizes[i] - 1) / t + 1 : 1;
        if (c > (uint64_t)n_tasks) c = (uint64_t)n_tasks;
        for (uint64_t j = 0; j < c; j++) {
            /* nominal cuts floor(j·S/c), as the shard rule of one input (128-bit product) */
            unsigned __int128 s = f->sizes[i];
            uint64_t b0 = (uint64_t)(s * j / c), b1 = (uint64_t)(s * (j + 1) / c);
            v[k].file = i;
            v[k].index = (int)j;
            v[k].count = (int)c;
            v[k].bytes = b1 - b0;
            k++;
        }
    }
    qsort(v, np, sizeof *v, cmp_deal);
    /* a binary min-heap of tasks by (load, task): each piece to the least loaded task */
    for (int q = 0; q < n_tasks; q++) heap[q] = q;
    for (size_t p = 0; p < np; p++) {
        int best = heap[0];
        v[p].task = best;
        load[best] += v[p].bytes;
        size_t at = 0, n = (size_t)n_tasks;
        for (;;) { /* sift the root down */
            size_t l = 2 * at + 1, r = l + 1, m = at;
            if (l < n && task_less(load, heap[l], heap[m])) m = l;
            if (r < n && task_less(load, heap[r], heap[m])) m = r;
            if (m == at) break;
            int tmp = heap[at];
            heap[at] = heap[m];
            heap[m] = tmp;
            at = m;
        }
    }
    qsort(v, np, sizeof *v, cmp_list);
    free(load);
    free(heap);
    *pieces = v;
    *n_pieces = np;
    return LABSE_OK;
}
