/* fuzz_lines.c — libFuzzer target: the line readers. The bytes go through
 *   - io/lines.h: lb_lines_count, lb_line_iter and lb_lines_split (in memory), which must
 *     agree with each other, and
 *   - the pipeline's streaming reader (pipeline/pipe_internal.h lb_reader over a byte range
 *     of a file: CR/LF, NUL, the line cap, lines across reads), which must return the same
 *     lines of the range, except that a line over the cap comes back cut (flagged `capped`) to
 *     a prefix of at most the cap, ending before the last ASCII whitespace of its first cap
 *     bytes or, with none, at a UTF-8 character boundary at most 3 bytes back;
 *     lb_reader_offset() after each line is the offset of the next (also after a capped line:
 *     window and part byte ranges use it).
 * The reader runs with a small line cap and read size (lb_reader_open_limits, the test seam),
 * so that every path of the cap and of a line across reads runs on inputs of a few bytes, at
 * full speed: with the real 1 MiB cap a capped line cost ~5 ms here (349 exec/s in all). The
 * real constants are covered by tests/test_pipeline.c (test_reader_cap, test_reader_rules).
 * Not lb_reader_open's defaults (1 MiB cap, 8 MiB reads): its 10 MiB buffer costs ~20 times
 * the rest of an input under ASan, and no line of a fuzz input would reach that cap.
 * Input: byte 0 = line cap: 1 + b0 for b0 < 0x80 (1..128), else 128 + 32 × (b0 − 0x80)
 *   (128..4192);
 *   byte 1 = bytes per read: (1 + (b1 >> 4)) << min(b1 & 15, 11) (1..32 KiB);
 *   byte 2 = the byte range: from line i0 = b2 & 15 to line i0 + (b2 >> 4), or to the end of
 *   the file (end = UINT64_MAX) when b2 >> 4 is 15 (line numbers past the last line mean the
 *   end of the input);
 *   bytes 3.. = the file.
 * A file (bytes 3..) that starts with a gzip, zstd or xz magic number is decompressed by the
 * reader (io/decomp.h): then the reader only has to end cleanly — lines no longer than the
 * cap, then the end or an error with a message — whatever the bytes (the decoders on garbage,
 * under the sanitizers).
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

/* Check one capped line: got[0..n) against the whole line ref[0..len), for line cap `cap`. */
static void check_cut(const char *got, size_t n, const char *ref, size_t len, size_t cap) {
    FUZZ_CHECK(len > cap && n <= cap);
    FUZZ_CHECK(memcmp(got, ref, n) == 0);
    size_t ws = last_ws(ref, cap); /* in the first cap bytes */
    if (ws > 0) {
        FUZZ_CHECK(n == ws - 1);
    } else {
        /* back to the last byte of ref[low..cap] that is not a continuation byte (at most 3
         * bytes back, not before byte 0); with none there (invalid UTF-8), the whole cap */
        size_t low = cap > 3 ? cap - 3 : 0, keep = cap;
        for (size_t i = low; i <= cap; i++)
            if (((unsigned char)ref[i] & 0xC0) != 0x80) keep = i;
        FUZZ_CHECK(n == keep);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    size_t cap = data[0] < 0x80 ? 1 + (size_t)data[0] : 128 + 32 * (size_t)(data[0] - 0x80);
    unsigned shift = data[1] & 15;
    size_t chunk = (size_t)(1 + (data[1] >> 4)) << (shift > 11 ? 11 : shift);
    const char *buf = (const char *)data + 3;
    size_t len = size - 3;

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

    /* the range: lines [i0, i1) of the n, from the offset of line i0 to that of line i1 */
    size_t i0 = data[2] & 15, i1 = i0 + (data[2] >> 4);
    int to_eof = data[2] >> 4 == 15;
    if (i0 > n) i0 = n;
    if (i1 > n || to_eof) i1 = n;
#define OFFSET(i) ((i) < n ? (size_t)(ref[i].ptr - buf) : len) /* where line i starts */
    uint64_t start = OFFSET(i0), end = to_eof ? UINT64_MAX : OFFSET(i1);

    /* the streaming reader over the same bytes as a file */
    char path[600];
    fuzz_path(path, sizeof path, "fuzz.txt");
    fuzz_write(path, buf, len);
    lb_reader *r = NULL;
    FUZZ_CHECK(lb_reader_open_limits(path, start, end, cap, chunk, &r, &err) == LABSE_OK);
    const char *p;
    size_t plen;
    int capped;
    const int compressed = lb_comp_detect((const unsigned char *)buf, len) != LB_COMP_NONE;
    if (compressed) {
        int got;
        while ((got = lb_reader_next(r, &p, &plen, &capped, &err)) == 1)
            FUZZ_CHECK(plen <= cap);
        FUZZ_CHECK(got == 0 || (got == -1 && err.message[0]));
        i1 = i0; /* nothing to compare */
    }
    for (size_t i = i0; i < i1; i++) {
        FUZZ_CHECK(lb_reader_next(r, &p, &plen, &capped, &err) == 1);
        if (ref[i].len <= cap) {
            FUZZ_CHECK(!capped && plen == ref[i].len && memcmp(p, ref[i].ptr, plen) == 0);
        } else {
            FUZZ_CHECK(capped);
            check_cut(p, plen, ref[i].ptr, ref[i].len, cap);
        }
        FUZZ_CHECK(lb_reader_offset(r) == OFFSET(i + 1));
    }
#undef OFFSET
    if (!compressed) FUZZ_CHECK(lb_reader_next(r, &p, &plen, &capped, &err) == 0);
    lb_reader_free(r);
    free(ref);
    return 0;
}
