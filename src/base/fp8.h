/* fp8.h — FP8 E4M3 ("fn": no infinities, max ±448, NaN 0x7F/0xFF) <-> binary32 on the host:
 * the GPU's fp8 weights are quantised with it at load (src/gpu/gpu_model.c), and the tests use
 * it as the CPU side of the fp8 kernels. Pure functions; thread-safe. */
#ifndef LB_FP8_H
#define LB_FP8_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest finite E4M3 value. */
#define LB_E4M3_MAX 448.0f

/* binary32 -> E4M3 code as cuda_fp8.h's __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3):
 * round to nearest, ties to even; |f| beyond 448 and ±inf -> ±448; NaN -> 0x7F; the sign of
 * zero kept. */
uint8_t lb_f32_to_e4m3(float f);

/* E4M3 code -> binary32, exact (NaN for 0x7F and 0xFF). */
float lb_e4m3_to_f32(uint8_t c);

/* One row quantised with its own scale (the fp8 weights' rule, kernels/quant_fp8.cuh's row
 * rule): amax = max |x|, codes[i] = lb_f32_to_e4m3(x[i] * (448 / amax)); returns the scale
 * amax / 448 (1 for a row of zeros, whose codes are 0). x [n] in, codes [n] out. */
float lb_e4m3_quant_row(const float *x, size_t n, uint8_t *codes);

#ifdef __cplusplus
}
#endif

#endif
