/* half.h — IEEE binary16 <-> binary32 conversions on the host. Pure functions; thread-safe. */
#ifndef LB_HALF_H
#define LB_HALF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* IEEE binary32 -> binary16, round to nearest even; overflow -> ±inf, NaN -> quiet NaN
 * (sign kept), subnormal results exact per rounding (what numpy's astype(float16) does). */
uint16_t lb_f32_to_f16(float f);

/* h[i] = lb_f32_to_f16(x[i]) for i < n, bit for bit, on the x86 F16C instruction when the CPU
 * has it (half_f16c.c; ~an order of magnitude faster than the scalar loop), else that loop.
 * x and h must not overlap. Thread-safe. */
#include <stddef.h>
void lb_f32_to_f16_array(const float *x, uint16_t *h, size_t n);
/* 1 when lb_f32_to_f16_array runs on F16C (CPUID: AVX + F16C, and the OS saves YMM). */
int lb_half_have_f16c(void);

/* IEEE binary16 -> binary32, exact (every half is a float). */
float lb_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
