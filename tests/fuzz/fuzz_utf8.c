/* fuzz_utf8.c — libFuzzer target: the UTF-8 repair (model/utf8.h), bytes → scalar values with
 * U+FFFD per maximal invalid subpart. Checks, for any input:
 *   - decoding + re-encoding gives valid UTF-8 (by the harness's own table validator AND by
 *     utf8proc_iterate, two independent judges);
 *   - the number of replacements equals a reference written here from the Unicode standard's
 *     Table 3-7 (well-formed byte sequences) and the "maximal subpart" rule, and equals
 *     lb_utf8_count_invalid();
 *   - valid input comes back byte for byte; every byte of the input is consumed exactly once.
 * Input: the raw bytes. Single-threaded; allocates per call (freed). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "fuzz_util.h"
#include "model/utf8.h"

/* Table 3-7: for a lead byte range, the sequence length and the range of the 2nd byte (the
 * 3rd and 4th are always 80..BF). Lead bytes not listed are never valid. */
typedef struct { uint8_t lead_lo, lead_hi, len, b1_lo, b1_hi; } wf_row;
static const wf_row WF[] = {
    {0x00, 0x7F, 1, 0, 0},       {0xC2, 0xDF, 2, 0x80, 0xBF}, {0xE0, 0xE0, 3, 0xA0, 0xBF},
    {0xE1, 0xEC, 3, 0x80, 0xBF}, {0xED, 0xED, 3, 0x80, 0x9F}, {0xEE, 0xEF, 3, 0x80, 0xBF},
    {0xF0, 0xF0, 4, 0x90, 0xBF}, {0xF1, 0xF3, 4, 0x80, 0xBF}, {0xF4, 0xF4, 4, 0x80, 0x8F},
};

/* Length of the well-formed prefix that starts at s[0] (0 when s[0] starts none): the
 * maximal subpart. *complete = 1 when it is a whole sequence. */
static size_t ref_subpart(const uint8_t *s, size_t n, int *complete) {
    *complete = 0;
    for (size_t r = 0; r < sizeof WF / sizeof WF[0]; r++) {
        if (s[0] < WF[r].lead_lo || s[0] > WF[r].lead_hi) continue;
        size_t k = 1;
        while (k < WF[r].len && k < n) {
            uint8_t lo = k == 1 ? WF[r].b1_lo : 0x80, hi = k == 1 ? WF[r].b1_hi : 0xBF;
            if (s[k] < lo || s[k] > hi) break;
            k++;
        }
        *complete = k == WF[r].len;
        return k;
    }
    return 0;
}

/* Replacements by the standard's rule: a complete sequence passes, a maximal subpart (or a
 * byte that starts none) is one U+FFFD. */
static size_t ref_count(const uint8_t *s, size_t n) {
    size_t i = 0, bad = 0;
    while (i < n) {
        int complete;
        size_t k = ref_subpart(s + i, n - i, &complete);
        if (!complete) bad++;
        i += k ? k : 1;
    }
    return bad;
}

/* Well-formed by the table (no replacement needed). */
static int ref_valid(const uint8_t *s, size_t n) { return ref_count(s, n) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *out = malloc(size * 3 + 1); /* each input byte yields at most one U+FFFD (3 B) */
    FUZZ_CHECK(out != NULL);
    size_t o = 0, i = 0, replaced = 0;
    while (i < size) {
        size_t used = 0;
        int bad = 0;
        uint32_t cp = lb_utf8_decode(data + i, size - i, &used, &bad);
        FUZZ_CHECK(used >= 1 && used <= 4 && used <= size - i);
        FUZZ_CHECK(cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF));
        if (bad) {
            FUZZ_CHECK(cp == LB_UTF8_REPLACEMENT);
            replaced++;
        } else {
            /* a good decode consumed exactly the bytes of its encoding */
            uint8_t enc[4];
            FUZZ_CHECK(lb_utf8_encode(cp, enc) == used && memcmp(enc, data + i, used) == 0);
        }
        o += lb_utf8_encode(cp, out + o);
        i += used;
    }
    FUZZ_CHECK(i == size);
    /* the output is valid UTF-8, by both judges */
    FUZZ_CHECK(ref_valid(out, o));
    for (size_t p = 0; p < o;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(out + p, (utf8proc_ssize_t)(o - p), &c);
        FUZZ_CHECK(k > 0);
        p += (size_t)k;
    }
    size_t want = ref_count(data, size);
    FUZZ_CHECK(replaced == want);
    FUZZ_CHECK(lb_utf8_count_invalid(data, size) == want);
    if (want == 0) FUZZ_CHECK(o == size && memcmp(out, data, size) == 0);
    free(out);
    return 0;
}
