/* api_text.c — the public text input (labse_text: lb_input_read + lb_lines_split, the line
 * rules of src/io/lines.h) and the pairs TSV writer of `labse mine` (labse_write_pairs_tsv). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "io/atomic_file.h"
#include "io/lines.h"

struct labse_text {
    lb_input in;
    lb_line *lines;   /* n views into in.data; NULL when n == 0 */
    size_t n;
};

labse_status labse_text_read(const char *path, labse_text **out, labse_error *err) {
    lb_err_clear(err);
    if (!path || !out) return lb_err(err, LABSE_E_INVALID, "labse_text_read: NULL argument");
    labse_text *t = calloc(1, sizeof *t);
    if (!t) return lb_err(err, LABSE_E_NOMEM, "labse_text_read: out of memory");
    labse_status s = lb_input_read(path, &t->in, err);
    if (s == LABSE_OK) s = lb_lines_split(t->in.data, t->in.len, &t->lines, &t->n, err);
    if (s != LABSE_OK) {
        labse_text_free(t);
        return s;
    }
    *out = t;
    return LABSE_OK;
}

size_t labse_text_count(const labse_text *t) { return t ? t->n : 0; }

const char *labse_text_line(const labse_text *t, size_t i, size_t *len) {
    if (!t || i >= t->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = t->lines[i].len;
    /* an empty line's view may sit at the end of the buffer: still a valid position, or ""
     * for an empty mapped/heap buffer, so the pointer is never NULL */
    return t->lines[i].ptr ? t->lines[i].ptr : "";
}

void labse_text_free(labse_text *t) {
    if (!t) return;
    free(t->lines);
    lb_input_free(&t->in);
    free(t);
}

/* ==========================================================================================
 * Pairs TSV
 * ========================================================================================== */

/* Where the TSV goes: the atomic file (io/atomic_file.h) or stdout, through a 64 KiB buffer. */
typedef struct tsv_sink {
    lb_afile *f;               /* NULL: stdout */
    char buf[1 << 16];
    size_t n;
    labse_status st;           /* the first failure */
} tsv_sink;

static void sink_flush(tsv_sink *k, labse_error *err) {
    if (k->st != LABSE_OK || k->n == 0) return;
    if (k->f) {
        k->st = lb_afile_write(k->f, k->buf, k->n, err);
    } else if (fwrite(k->buf, 1, k->n, stdout) != k->n) {
        k->st = lb_err(err, LABSE_E_IO, "stdout: write failed: %s", strerror(errno));
    }
    k->n = 0;
}

static void sink_put(tsv_sink *k, const char *p, size_t len, int tabs_to_spaces,
                     labse_error *err) {
    while (len) {
        if (k->n == sizeof k->buf) sink_flush(k, err);
        if (k->st != LABSE_OK) return;
        size_t c = sizeof k->buf - k->n < len ? sizeof k->buf - k->n : len;
        for (size_t i = 0; i < c; i++) k->buf[k->n + i] = tabs_to_spaces && p[i] == '\t' ? ' ' : p[i];
        k->n += c;
        p += c;
        len -= c;
    }
}

labse_status labse_write_pairs_tsv(const char *path, const labse_pair *pairs, size_t n,
                                   const labse_text *src_text, const labse_text *tgt_text,
                                   labse_error *err) {
    lb_err_clear(err);
    if (!path || !*path || (!pairs && n))
        return lb_err(err, LABSE_E_INVALID, "labse_write_pairs_tsv: NULL argument");
    int texts = src_text && tgt_text;
    for (size_t i = 0; i < n; i++) {
        if (pairs[i].src > UINT32_MAX || pairs[i].tgt > UINT32_MAX ||
            (texts && (pairs[i].src >= src_text->n || pairs[i].tgt >= tgt_text->n)))
            return lb_err(err, LABSE_E_INVALID,
                          "labse_write_pairs_tsv: pair %zu (%" PRIu64 ", %" PRIu64
                          ") is not a line of the texts",
                          i, pairs[i].src, pairs[i].tgt);
    }
    tsv_sink *k = calloc(1, sizeof *k);
    if (!k) return lb_err(err, LABSE_E_NOMEM, "labse_write_pairs_tsv: out of memory");
    if (strcmp(path, "-") != 0 && (k->st = lb_afile_open(path, &k->f, err)) != LABSE_OK) {
        labse_status st = k->st;
        free(k);
        return st;
    }
    for (size_t i = 0; i < n && k->st == LABSE_OK; i++) {
        char num[96];
        int w = snprintf(num, sizeof num, "%.8f\t%" PRIu32 "\t%" PRIu32, pairs[i].score,
                         (uint32_t)pairs[i].src, (uint32_t)pairs[i].tgt);
        sink_put(k, num, (size_t)w, 0, err);
        if (texts) {
            const lb_line *s = &src_text->lines[pairs[i].src], *t = &tgt_text->lines[pairs[i].tgt];
            sink_put(k, "\t", 1, 0, err);
            sink_put(k, s->ptr, s->len, 1, err);
            sink_put(k, "\t", 1, 0, err);
            sink_put(k, t->ptr, t->len, 1, err);
        }
        sink_put(k, "\n", 1, 0, err);
    }
    sink_flush(k, err);
    labse_status st = k->st;
    if (!k->f) {
        if (st == LABSE_OK && fflush(stdout) != 0)
            st = lb_err(err, LABSE_E_IO, "stdout: write failed: %s", strerror(errno));
    } else if (st == LABSE_OK) {
        st = lb_afile_commit(k->f, err); /* frees it */
    } else {
        lb_afile_abort(k->f);
    }
    free(k);
    return st;
}
