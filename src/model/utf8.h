/* utf8.h — UTF-8 decoding with replacement and encoding. Decoding follows the Unicode /
 * WHATWG "substitution of maximal subparts" (what Python's bytes.decode(errors="replace")
 * does): each maximal prefix of a valid sequence that is cut short, and each byte that can
 * never start a sequence, becomes one U+FFFD. Surrogates (ED A0..BF ..) and overlongs
 * (C0 C1, E0 80..9F, F0 80..8F) and values above U+10FFFF (F4 90.., F5..FF) are invalid. */
#ifndef LB_UTF8_H
#define LB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define LB_UTF8_REPLACEMENT 0xFFFDu

/* Decode one scalar value from s[0..len) (len >= 1). Sets *used to the bytes consumed
 * (1..4) and *bad to 1 when the bytes were invalid (the return value is then U+FFFD), else
 * leaves *bad alone. Never reads past s[len-1]. */
uint32_t lb_utf8_decode(const uint8_t *s, size_t len, size_t *used, int *bad);

/* Encode scalar value cp (<= 0x10FFFF, not a surrogate) into out[0..4); returns 1..4. */
static inline size_t lb_utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Number of U+FFFD the decoder produces for s[0..len) (0 when it is valid UTF-8). */
size_t lb_utf8_count_invalid(const uint8_t *s, size_t len);

#endif
