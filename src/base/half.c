/* half.c — IEEE binary16 <-> binary32 conversions on the host (f16 output, GPU weights, tests). */
#include <string.h>

#include "base/half.h"

uint16_t lb_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t e = (x >> 23) & 0xFFu, m = x & 0x7FFFFFu;
    if (e == 0xFF) { /* inf, or NaN with its top payload bits (as numpy) */
        if (!m) return sign | 0x7C00u;
        uint16_t h = (uint16_t)(0x7C00u | (m >> 13));
        return sign | (h == 0x7C00u ? 0x7C01u : h);
    }
    if (e >= 143) return sign | 0x7C00u;     /* >= 2^16: overflow */
    if (e >= 113) {                          /* normal half (before rounding) */
        uint32_t h = ((e - 112) << 10) | (m >> 13), rem = m & 0x1FFFu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; /* carries into the exponent */
        return sign | (uint16_t)(h >= 0x7C00u ? 0x7C00u : h);
    }
    if (e < 102) return sign;                /* < 2^-25: rounds to zero */
    /* Subnormal half: units of 2^-24. value = sig * 2^(e-150) → sig >> (126 - e). */
    uint32_t sig = m | 0x800000u, sh = 126 - e; /* 14..24 */
    uint32_t h = sig >> sh, rem = sig & ((1u << sh) - 1), half = 1u << (sh - 1);
    if (rem > half || (rem == half && (h & 1))) h++; /* may become 0x400: smallest normal */
    return sign | (uint16_t)h;
}


float lb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0x1F) {
        x = sign | 0x7F800000u | (m << 13);      /* inf or NaN (payload kept) */
    } else if (e) {
        x = sign | ((e + 112) << 23) | (m << 13); /* normal */
    } else if (!m) {
        x = sign;                                 /* ±0 */
    } else {                                      /* subnormal: m * 2^-24, exact in float */
        float f = (float)m * 5.9604644775390625e-8f;
        memcpy(&x, &f, sizeof x);
        x |= sign;
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
