/* fuzz_lines.c — libFuzzer target: the line readers. The bytes go through
 *   - io/lines.h: lb_lines_count, lb_line_iter and lb_lines_split (in memory), which must
 *     agree with each other, and
 *   - the pipeline's streaming reader (pipeline/pipe_internal.h lb_reader over a file: CR/LF,
 *     NUL, the LB_PIPE_LINE_CAP = 1 MiB cap), which must return the same lines, except that
 *     a line over the cap comes back cut (flagged `capped`) to a prefix of at most the cap,
 *     ending before the last ASCII whitespace of its first cap bytes or, with none, at a
 *     UTF-8 character boundary at most 3 bytes back; lb_reader_offset() after each line is the
 *     offset of the next (also after a capped line: window and part byte ranges use it).
 * Input: byte 0 is a mode. Bits 7 and 6 set (a quarter of the inputs: a megabyte costs ~5 ms
 * here): the file starts with LB_PIPE_LINE_CAP − 32 + (mode & 0x3F) copies of byte 1 (a '\n'
 * there becomes 'a'), then bytes 2.. — lines around the cap without megabyte inputs.
 * Otherwise the file is bytes 1...
 * A file that starts with a gzip, zstd or xz magic number is decompressed by the reader
 * (io/decomp.h): then the reader only has to end cleanly — lines, then the end or an error
 * with a message — whatever the bytes (the decoders on garbage, under the sanitizers).
 * Single-threaded; allocates per call (freed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "io/decomp.h"
#include "io/lines.h"
#include "pipeline/pipe_internal.h"

/* 1 + the offset of the last ASCII whitespace in s[0..n), or 0 — by libc's memrchr: a byte
 * loop here, with libFuzzer's comparison hook on every byte, was 70% of the time per input. */
static size_t last_ws(const char *s, size_t n) {
    static const char ws[] = " \t\r\v\f";
    size_t best = 0;
    for (size_t k = 0; k < sizeof ws - 1; k++) {
        const char *q = memrchr(s, ws[k], n);
        if (q && (size_t)(q - s) + 1 > best) best = (size_t)(q - s) + 1;
    }
    return best;
}

/* Check one capped line: got[0..n) against the whole line ref[0..len). */
static void check_cut(const char *got, size_t n, const char *ref, size_t len) {
    FUZZ_CHECK(len > LB_PIPE_LINE_CAP && n <= LB_PIPE_LINE_CAP);
    FUZZ_CHECK(memcmp(got, ref, n) == 0);
    size_t ws = last_ws(ref, LB_PIPE_LINE_CAP); /* in the first cap bytes */
    if (ws > 0) {
        FUZZ_CHECK(n == ws - 1);
    } else {
        /* at most 3 bytes back, to a byte that is not a continuation byte */
        FUZZ_CHECK(n + 3 >= LB_PIPE_LINE_CAP);
        FUZZ_CHECK(n == LB_PIPE_LINE_CAP || ((unsigned char)ref[n] & 0xC0) != 0x80);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t pad = (data[0] & 0xC0) == 0xC0 ? LB_PIPE_LINE_CAP - 32 + (data[0] & 0x3F) : 0;
    const uint8_t *rest = data + (pad ? 2 : 1);
    size_t nrest = size - (pad ? 2 : 1);
    size_t len = pad + nrest;
    char *buf = malloc(len ? len : 1);
    FUZZ_CHECK(buf != NULL);
    memset(buf, data[1] == '\n' ? 'a' : data[1], pad);
    memcpy(buf + pad, rest, nrest);

    /* in memory: count, iterator and split agree */
    lb_line *ref = NULL;
    size_t n = 0;
    labse_error err = {0};
    FUZZ_CHECK(lb_lines_split(buf, len, &ref, &n, &err) == LABSE_OK);
    FUZZ_CHECK(lb_lines_count(buf, len) == n);
    lb_line_iter it;
    lb_line_iter_init(&it, buf, len);
    lb_line l;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(lb_line_next(&it, &l) == 1);
        FUZZ_CHECK(l.ptr == ref[i].ptr && l.len == ref[i].len);
        FUZZ_CHECK(l.ptr >= buf && l.ptr + l.len <= buf + len);
        FUZZ_CHECK(!memchr(l.ptr, '\n', l.len));
    }
    FUZZ_CHECK(lb_line_next(&it, &l) == 0);

    /* the streaming reader over the same bytes as a file */
    char path[600];
    fuzz_path(path, sizeof path, "fuzz.txt");
    fuzz_write(path, buf, len);
    lb_reader *r = NULL;
    FUZZ_CHECK(lb_reader_open(path, 0, UINT64_MAX, &r, &err) == LABSE_OK);
    const char *p;
    size_t plen;
    int capped;
    if (lb_comp_detect((const unsigned char *)buf, len) != LB_COMP_NONE) {
        int got;
        while ((got = lb_reader_next(r, &p, &plen, &capped, &err)) == 1)
            FUZZ_CHECK(plen <= LB_PIPE_LINE_CAP);
        FUZZ_CHECK(got == 0 || (got == -1 && err.message[0]));
        n = 0; /* nothing to compare */
    }
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(lb_reader_next(r, &p, &plen, &capped, &err) == 1);
        if (ref[i].len <= LB_PIPE_LINE_CAP) {
            FUZZ_CHECK(!capped && plen == ref[i].len && memcmp(p, ref[i].ptr, plen) == 0);
        } else {
            FUZZ_CHECK(capped);
            check_cut(p, plen, ref[i].ptr, ref[i].len);
        }
        size_t next = i + 1 < n ? (size_t)(ref[i + 1].ptr - buf) : len;
        FUZZ_CHECK(lb_reader_offset(r) == next);
    }
    if (lb_comp_detect((const unsigned char *)buf, len) == LB_COMP_NONE)
        FUZZ_CHECK(lb_reader_next(r, &p, &plen, &capped, &err) == 0);
    lb_reader_free(r);
    free(ref);
    free(buf);
    return 0;
}
