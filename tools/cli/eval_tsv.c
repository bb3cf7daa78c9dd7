/* eval_tsv.c — the `labse eval` TSV reader: each line of an input (read by labse_text_read,
 * the lines.h rules) split at its first tab into source and target. Its own file so that the
 * fuzz target tests/fuzz/fuzz_tsv.c can link it without the rest of the CLI. */
#include "cli.h"

int eval_split_tsv(const char *path, const labse_text *in, const char ***src, size_t **src_len,
                   const char ***tgt, size_t **tgt_len, size_t *n) {
    size_t nl = labse_text_count(in);
    if (nl == 0) {
        errorf("%s: empty file (no pairs)", path);
        return EXIT_RUNTIME;
    }
    *src = malloc(nl * sizeof **src);
    *tgt = malloc(nl * sizeof **tgt);
    *src_len = malloc(nl * sizeof **src_len);
    *tgt_len = malloc(nl * sizeof **tgt_len);
    if (!*src || !*tgt || !*src_len || !*tgt_len) {
        errorf("out of memory");
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < nl; i++) {
        size_t len;
        const char *line = labse_text_line(in, i, &len);
        const char *tab = len ? memchr(line, '\t', len) : NULL;
        if (!tab) {
            errorf("%s:%zu: no tab (expected 'source<TAB>target')", path, i + 1);
            return EXIT_RUNTIME;
        }
        (*src)[i] = line;
        (*src_len)[i] = (size_t)(tab - line);
        (*tgt)[i] = tab + 1;
        (*tgt_len)[i] = len - (size_t)(tab - line) - 1;
    }
    *n = nl;
    return 0;
}
