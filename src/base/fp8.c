/* fp8.c — E4M3 conversions on the host (fp8.h). Written on the float's bits, independently of
 * the emulator's double-based model (tests/cuda_emu/emu_fp8.h): tests/test_fp8.cu checks both
 * against a nearest-value search over the 254 finite codes. */
#include "base/fp8.h"

#include <math.h>
#include <string.h>

uint8_t lb_f32_to_e4m3(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint8_t s = (uint8_t)((x >> 24) & 0x80u);
    const uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return 0x7f;             /* NaN */
    if (a > 0x43e00000u) return (uint8_t)(s | 0x7e); /* > 448 (and inf): saturate */
    if (a >= 0x3c800000u) {                       /* >= 2^-6: a normal E4M3 */
        uint32_t r = a >> 20, rem = a & 0xfffffu; /* exponent and 3 mantissa bits; the rest */
        if (rem > 0x80000u || (rem == 0x80000u && (r & 1u))) r++;
        return (uint8_t)(s | (r - (120u << 3))); /* rebias 127 -> 7; a carry moves the exponent */
    }
    float v;
    memcpy(&v, &a, 4);
    /* subnormal: multiples of 2^-9 (v * 512 is exact); 8 steps are the smallest normal, 0x08 */
    return (uint8_t)(s | (uint8_t)nearbyintf(v * 512.0f));
}

float lb_e4m3_to_f32(uint8_t c) {
    const int e = (c >> 3) & 0xf, m = c & 7;
    const float s = (c & 0x80) ? -1.0f : 1.0f;
    if (e == 0xf && m == 7) return NAN;
    return e ? s * ldexpf((float)(8 + m), e - 10) : s * ldexpf((float)m, -9);
}

float lb_e4m3_quant_row(const float *x, size_t n, uint8_t *codes) {
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float inv = amax > 0.0f ? LB_E4M3_MAX / amax : 0.0f;
    for (size_t i = 0; i < n; i++) codes[i] = lb_f32_to_e4m3(x[i] * inv);
    return amax > 0.0f ? amax / LB_E4M3_MAX : 1.0f;
}
