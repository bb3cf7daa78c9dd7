/* fuzz_tsv.c — libFuzzer target: the `labse eval` TSV reader: the input written to a file,
 * read by labse_text_read() (the lines.h rules) and split by eval_split_tsv()
 * (tools/cli/eval_tsv.c). Checks: the reader's lines equal lb_lines_split() of the same
 * bytes; on success every pair is (the bytes before the line's first tab, the bytes after
 * it) with no tab in the source; on failure the file is empty or some line has no tab.
 * An input that starts with a gzip, zstd or xz magic number is decompressed by
 * labse_text_read (io/decomp.h): there the read only has to succeed or fail with a message.
 * errorf() (the CLI's stderr reporter) is replaced here by a silent one.
 * Single-threaded; allocates per call (freed). */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fuzz_util.h"
#include "io/decomp.h"
#include "io/lines.h"

void errorf(const char *fmt, ...) { (void)fmt; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_input_file("fuzz.tsv", data, size);
    labse_text *in = NULL;
    labse_error err = {0};
    if (lb_comp_detect(data, size) != LB_COMP_NONE) {
        labse_status s = labse_text_read(path, &in, &err);
        FUZZ_CHECK(s == LABSE_OK || (s == LABSE_E_FORMAT && err.message[0]));
        labse_text_free(in);
        return 0;
    }
    FUZZ_CHECK(labse_text_read(path, &in, &err) == LABSE_OK);
    lb_line *ref = NULL;
    size_t nref = 0;
    FUZZ_CHECK(lb_lines_split((const char *)data, size, &ref, &nref, &err) == LABSE_OK);
    FUZZ_CHECK(labse_text_count(in) == nref);
    int all_tabs = nref > 0;
    for (size_t i = 0; i < nref; i++) {
        size_t len;
        const char *l = labse_text_line(in, i, &len);
        FUZZ_CHECK(len == ref[i].len && (len == 0 || memcmp(l, ref[i].ptr, len) == 0));
        if (!len || !memchr(l, '\t', len)) all_tabs = 0;
    }
    const char **src = NULL, **tgt = NULL;
    size_t *sl = NULL, *tl = NULL, n = 0;
    int rc = eval_split_tsv(path, in, &src, &sl, &tgt, &tl, &n);
    FUZZ_CHECK((rc == 0) == all_tabs);
    if (rc == 0) {
        FUZZ_CHECK(n == nref);
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *l = labse_text_line(in, i, &len);
            FUZZ_CHECK(src[i] == l && sl[i] + 1 + tl[i] == len && tgt[i] == l + sl[i] + 1);
            FUZZ_CHECK(!memchr(src[i], '\t', sl[i]) && l[sl[i]] == '\t');
        }
    }
    free(src);
    free(sl);
    free(tgt);
    free(tl);
    free(ref);
    labse_text_free(in);
    return 0;
}
