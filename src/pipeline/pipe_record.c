/* pipe_record.c — structured input: the text of one record (one input line, after the line
 * rules) is a TSV column or a JSON string field. See pipe_internal.h, "Records". */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe_internal.h"

struct lb_recx {
    int column;        /* TSV column, 1-based; 0: JSONL */
    char **path;       /* JSONL: the field name split at '.' */
    size_t depth;
    char *names;       /* storage of path[] */
    char *field;       /* the field name as given (messages) */
    char *text;        /* the last JSON string given (heap, grown) */
    size_t cap;
};

labse_status lb_recx_new(int tsv_column, const char *jsonl_field, lb_recx **out,
                         labse_error *err) {
    *out = NULL;
    if (tsv_column < 0 || (tsv_column > 0 && jsonl_field))
        return lb_err(err, LABSE_E_INVALID, "tsv_column %d and jsonl_field: give one of them",
                      tsv_column);
    if (tsv_column == 0 && !jsonl_field) return LABSE_OK; /* plain lines */
    if (jsonl_field) {
        size_t n = strlen(jsonl_field);
        if (n == 0 || jsonl_field[0] == '.' || jsonl_field[n - 1] == '.' ||
            strstr(jsonl_field, ".."))
            return lb_err(err, LABSE_E_INVALID,
                          "jsonl_field '%s': want NAME or NAME.NAME... (no empty name)",
                          jsonl_field);
    }
    lb_recx *x = calloc(1, sizeof *x);
    if (!x) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    x->column = tsv_column;
    if (jsonl_field) {
        size_t depth = 1;
        for (const char *p = jsonl_field; *p; p++) depth += *p == '.';
        x->names = strdup(jsonl_field);
        x->field = strdup(jsonl_field);
        x->path = malloc(depth * sizeof *x->path);
        if (!x->names || !x->field || !x->path) {
            lb_recx_free(x);
            return lb_err(err, LABSE_E_NOMEM, "out of memory");
        }
        char *save = NULL;
        for (char *t = strtok_r(x->names, ".", &save); t; t = strtok_r(NULL, ".", &save))
            x->path[x->depth++] = t;
    }
    *out = x;
    return LABSE_OK;
}

void lb_recx_free(lb_recx *x) {
    if (!x) return;
    free(x->path);
    free(x->names);
    free(x->field);
    free(x->text);
    free(x);
}

/* Column x->column of a tab-separated line. */
static int get_column(const lb_recx *x, const char *line, size_t len, const char **out,
                      size_t *out_len, char *why, size_t whycap) {
    const char *p = line, *end = line + len;
    for (int c = 1; c < x->column; c++) {
        const char *t = memchr(p, '\t', (size_t)(end - p));
        if (!t) {
            snprintf(why, whycap, "%d column%s, no column %d", c, c == 1 ? "" : "s", x->column);
            return 0;
        }
        p = t + 1;
    }
    const char *t = memchr(p, '\t', (size_t)(end - p));
    *out = p;
    *out_len = (size_t)((t ? t : end) - p);
    return 1;
}

/* The string at x->path in the JSON object of line. */
static int get_field(lb_recx *x, const char *line, size_t len, const char **out,
                     size_t *out_len, char *why, size_t whycap) {
    const char *stop = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(line, len, &stop, 0);
    if (!root) {
        snprintf(why, whycap, "not JSON (parse error at byte %zu)",
                 stop && stop >= line && stop <= line + len ? (size_t)(stop - line) : (size_t)0);
        return 0;
    }
    const cJSON *v = root;
    for (size_t i = 0; i < x->depth && v; i++)
        v = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, x->path[i]) : NULL;
    int rc = 1;
    if (!v) {
        snprintf(why, whycap, "no field '%s'", x->field);
        rc = 0;
    } else if (!cJSON_IsString(v) || !v->valuestring) {
        snprintf(why, whycap, "field '%s' is not a string", x->field);
        rc = 0;
    } else {
        size_t n = strlen(v->valuestring);
        if (n + 1 > x->cap) {
            char *t = realloc(x->text, n + 1);
            if (!t) {
                cJSON_Delete(root);
                snprintf(why, whycap, "out of memory");
                return -1;
            }
            x->text = t;
            x->cap = n + 1;
        }
        memcpy(x->text, v->valuestring, n + 1);
        *out = x->text;
        *out_len = n;
    }
    cJSON_Delete(root);
    return rc;
}

int lb_recx_get(lb_recx *x, const char *line, size_t len, const char **out, size_t *out_len,
                char *why, size_t whycap) {
    return x->column > 0 ? get_column(x, line, len, out, out_len, why, whycap)
                         : get_field(x, line, len, out, out_len, why, whycap);
}
