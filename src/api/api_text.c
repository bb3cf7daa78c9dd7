/* api_text.c — the public text input (labse_text: lb_input_read + lb_lines_split, the line
 * rules of src/io/lines.h) and the pairs TSV writer of `labse mine` (labse_write_pairs_tsv). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"
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

/* Write a text with each tab replaced by a space. */
static void put_text(FILE *f, const char *p, size_t len) {
    for (size_t i = 0; i < len; i++) putc(p[i] == '\t' ? ' ' : p[i], f);
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
    int to_stdout = strcmp(path, "-") == 0;
    char tmp[4096];
    FILE *f = stdout;
    if (!to_stdout) {
        int w = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        if (w < 0 || (size_t)w >= sizeof tmp)
            return lb_err(err, LABSE_E_INVALID, "%s: path too long", path);
        f = fopen(tmp, "wx");
        if (!f) return lb_err(err, LABSE_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.8f\t%" PRIu32 "\t%" PRIu32, pairs[i].score, (uint32_t)pairs[i].src,
                (uint32_t)pairs[i].tgt);
        if (texts) {
            const lb_line *s = &src_text->lines[pairs[i].src], *t = &tgt_text->lines[pairs[i].tgt];
            putc('\t', f);
            put_text(f, s->ptr, s->len);
            putc('\t', f);
            put_text(f, t->ptr, t->len);
        }
        putc('\n', f);
    }
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (to_stdout) {
        if (bad) return lb_err(err, LABSE_E_IO, "stdout: write failed: %s", strerror(e));
        return LABSE_OK;
    }
    if (!bad && fsync(fileno(f)) != 0) bad = 1, e = errno;
    if (fclose(f) != 0 && !bad) bad = 1, e = errno;
    if (!bad && rename(tmp, path) != 0) bad = 1, e = errno;
    if (bad) {
        unlink(tmp);
        return lb_err(err, LABSE_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    return LABSE_OK;
}
