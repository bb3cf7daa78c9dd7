/* emu_fp8.h — the FP8 E4M3 subset of cuda_fp8.h for the emulator (C++; included by
 * cuda_emu_device.h, and by emu_blaslt.cpp for its FP8 matmuls).
 *
 * E4M3 ("fn": no infinities): sign, 4 exponent bits (bias 7), 3 mantissa bits. Codes 0x00..0x07
 * are 0 and the subnormals m·2^-9; 0x08..0x7E the normals (1 + m/8)·2^(e-7), the largest 448
 * (0x7E); 0x7F (and 0xFF) NaN. Every code but the two NaNs is a finite value, exactly
 * representable in float and in fp16.
 *
 * float/double → E4M3 (__nv_cvt_float_to_fp8 and the __nv_fp8_e4m3 constructors): one rounding,
 * to nearest, ties to even (the mantissa's last bit 0), from the exact value (double holds every
 * float exactly); subnormal results round on the 2^-9 grid (|x| <= 2^-10 → ±0, the sign kept).
 * Saturation: __NV_SATFINITE (what the kernels use; the constructors' mode, as in cuda_fp8.h):
 * a result beyond 448 and ±inf become ±448; __NV_NOSAT: |x| > 448 and ±inf become NaN (E4M3 has
 * no inf). NaN → 0x7F (the canonical NaN sm_89+'s cvt writes; the sign is not kept).
 * E4M3 → float / half: exact. Only the E4M3 interpretation is modelled (__NV_E5M2 aborts). */
#ifndef LB_EMU_FP8_H
#define LB_EMU_FP8_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef unsigned char __nv_fp8_storage_t;
typedef unsigned short __nv_fp8x2_storage_t;
typedef enum __nv_saturation_t { __NV_NOSAT, __NV_SATFINITE } __nv_saturation_t;
typedef enum __nv_fp8_interpretation_t { __NV_E4M3, __NV_E5M2 } __nv_fp8_interpretation_t;

namespace lb_emu {
/* E4M3 code → float (exact; NaN for 0x7F / 0xFF). Pure. */
static inline float e4m3_to_f(uint8_t c) {
    const int e = (c >> 3) & 0xf, m = c & 7;
    const float s = (c & 0x80) ? -1.0f : 1.0f;
    if (e == 0xf && m == 7) return NAN;
    if (!e) return s * ldexpf((float)m, -9);
    return s * ldexpf((float)(8 + m), e - 10);
}
/* double → E4M3 code, round to nearest even, saturation as the header says. Pure. */
static inline uint8_t d_to_e4m3(double d, __nv_saturation_t sat) {
    if (d != d) return 0x7f;
    const uint8_t s = std::signbit(d) ? 0x80 : 0x00;
    const double a = fabs(d);
    if (a > 448.0 && sat == __NV_NOSAT) return 0x7f; /* also inf */
    if (a >= 480.0) return (uint8_t)(s | 0x7e);     /* inf, or rounds past 448: saturate */
    /* quantum of a's binade (2^-9 below the smallest normal 2^-6) */
    const int e = a >= 0.015625 ? ilogb(a) : -6;
    const double q = ldexp(1.0, e - 3);
    const double r = nearbyint(a / q); /* exact quotient; the FPU's default mode: ties to even */
    const double v = r * q;
    if (v > 448.0) return (uint8_t)(s | 0x7e); /* 464 <= a < 480 ties or rounds to 480: only SATFINITE reaches here */
    if (v < 0.015625) return (uint8_t)(s | (uint8_t)r); /* 0 .. 7 subnormal steps */
    const int ve = ilogb(v);
    const int m = (int)(v / ldexp(1.0, ve) * 8.0) - 8;
    return (uint8_t)(s | ((ve + 7) << 3) | m);
}
static inline void fp8_interp_check(__nv_fp8_interpretation_t t) {
    if (t != __NV_E4M3) {
        fprintf(stderr, "cuda_emu: only the E4M3 FP8 interpretation is emulated\n");
        abort();
    }
}
} // namespace lb_emu

static inline __nv_fp8_storage_t __nv_cvt_double_to_fp8(double x, __nv_saturation_t sat,
                                                        __nv_fp8_interpretation_t t) {
    lb_emu::fp8_interp_check(t);
    return lb_emu::d_to_e4m3(x, sat);
}
static inline __nv_fp8_storage_t __nv_cvt_float_to_fp8(float x, __nv_saturation_t sat,
                                                       __nv_fp8_interpretation_t t) {
    return __nv_cvt_double_to_fp8((double)x, sat, t);
}
static inline __nv_fp8x2_storage_t __nv_cvt_float2_to_fp8x2(float2 x, __nv_saturation_t sat,
                                                            __nv_fp8_interpretation_t t) {
    return (__nv_fp8x2_storage_t)(__nv_cvt_float_to_fp8(x.x, sat, t) |
                                  (__nv_cvt_float_to_fp8(x.y, sat, t) << 8));
}
static inline __half_raw __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t x, __nv_fp8_interpretation_t t) {
    lb_emu::fp8_interp_check(t);
    return __half_raw{lb_emu::f2h(lb_emu::e4m3_to_f(x))}; /* exact (NaN stays NaN) */
}

/* __nv_fp8_e4m3: one byte; from float / double / __half with SATFINITE and ties to even. */
struct __nv_fp8_e4m3 {
    __nv_fp8_storage_t __x;
    __nv_fp8_e4m3() = default;
    explicit __nv_fp8_e4m3(float f) : __x(lb_emu::d_to_e4m3((double)f, __NV_SATFINITE)) {}
    explicit __nv_fp8_e4m3(double d) : __x(lb_emu::d_to_e4m3(d, __NV_SATFINITE)) {}
    explicit __nv_fp8_e4m3(__half h) : __x(lb_emu::d_to_e4m3((double)lb_emu::h2f(h.__x), __NV_SATFINITE)) {}
    explicit operator float() const { return lb_emu::e4m3_to_f(__x); }
    explicit operator __half() const {
        __half h;
        h.__x = lb_emu::f2h(lb_emu::e4m3_to_f(__x));
        return h;
    }
};
static_assert(sizeof(__nv_fp8_e4m3) == 1, "fp8 size");

#endif
