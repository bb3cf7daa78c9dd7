/* utf8.c — UTF-8 decoding with replacement (maximal subparts), see utf8.h. */
#include "model/utf8.h"

uint32_t lb_utf8_decode(const uint8_t *s, size_t len, size_t *used, int *bad) {
    uint8_t b0 = s[0];
    if (b0 < 0x80) {
        *used = 1;
        return b0;
    }
    /* need: continuation bytes after the lead; lo/hi: allowed range of the first one */
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    uint32_t cp;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;       /* no overlongs */
        else if (b0 == 0xED) hi = 0x9F;  /* no surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;       /* no overlongs */
        else if (b0 == 0xF4) hi = 0x8F;  /* <= U+10FFFF */
    } else {  /* 80..C1, F5..FF: never a lead byte */
        *used = 1;
        *bad = 1;
        return LB_UTF8_REPLACEMENT;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len) break;
        uint8_t b = s[i];
        if (b < lo || b > hi) break;
        cp = (cp << 6) | (b & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *used = i;
    if (i <= need) {  /* cut short: the maximal valid prefix s[0..i) is one U+FFFD */
        *bad = 1;
        return LB_UTF8_REPLACEMENT;
    }
    return cp;
}

size_t lb_utf8_count_invalid(const uint8_t *s, size_t len) {
    size_t n = 0, i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t used;
        int bad = 0;
        lb_utf8_decode(s + i, len - i, &used, &bad);
        n += (size_t)bad;
        i += used;
    }
    return n;
}
