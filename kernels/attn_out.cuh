/* attn_out.cuh — the two output forms of the attention kernels (attention.cu,
 * attention_short.cu), one definition for both. Device code only; include from .cu files after
 * cuda_compat.h.
 *
 * A kernel computes each context value o = O / l in fp32 and writes, by its output type OutT:
 *   __half   ctx [T, H] fp16:   ctx[i, c]  = fp16_rn(o)
 *   uint8_t  ctx8 [T, H] E4M3:  ctx8[i, c] = E4M3_satfinite( float(fp16_rn(o)) * inv_scale )
 * The E4M3 code is taken from the fp16 value (rounded to fp16 FIRST), one fp32 product, then
 * __nv_fp8_e4m3's constructor (round to nearest, ties to even, SATFINITE: beyond ±448 -> ±448).
 * So the fp8 form writes exactly the code the host gets from the fp16 form's output with
 * lb_f32_to_e4m3(half_to_float(ctx) * inv_scale) (src/base/fp8.h): tests compare them byte for
 * byte, and a CPU model needs only the fp16 attention and that line. inv_scale is one fp32 per
 * call (the layer's static scale, 448 / a bound on |ctx|); the fp16 form ignores it.
 * Pure device functions, no state. */
#ifndef LB_ATTN_OUT_CUH
#define LB_ATTN_OUT_CUH

#include "cuda_compat.h"

/* The E4M3 code of one fp16 context value. */
static __device__ __forceinline__ uint8_t lb_attn_e4m3(__half h, float inv_scale) {
    return __nv_fp8_e4m3(__half2float(h) * inv_scale).__x;
}

/* 16 bytes of output at dst (16-byte aligned) from the fp16 values at src (16-byte aligned):
 * 8 values copied as they are (fp16), or 16 values converted (E4M3). */
static __device__ __forceinline__ void lb_attn_store16(__half *dst, const __half *src, float) {
    *reinterpret_cast<uint4 *>(dst) = *reinterpret_cast<const uint4 *>(src);
}
static __device__ __forceinline__ void lb_attn_store16(uint8_t *dst, const __half *src,
                                                       float inv_scale) {
    const uint4 raw[2] = {reinterpret_cast<const uint4 *>(src)[0],
                          reinterpret_cast<const uint4 *>(src)[1]}; /* two 16-byte loads */
    const __half *x = reinterpret_cast<const __half *>(raw);
    uint32_t w[4];
    for (int k = 0; k < 4; ++k)
        w[k] = (uint32_t)lb_attn_e4m3(x[4 * k], inv_scale) |
               (uint32_t)lb_attn_e4m3(x[4 * k + 1], inv_scale) << 8 |
               (uint32_t)lb_attn_e4m3(x[4 * k + 2], inv_scale) << 16 |
               (uint32_t)lb_attn_e4m3(x[4 * k + 3], inv_scale) << 24;
    *reinterpret_cast<uint4 *>(dst) = make_uint4(w[0], w[1], w[2], w[3]);
}

/* Two adjacent context values (a, b) rounded to fp16 (__floats2half2_rn) and written at dst:
 * as a half2 (4-byte aligned) or as two E4M3 codes (2-byte aligned). */
static __device__ __forceinline__ void lb_attn_store2(__half *dst, float a, float b, float) {
    *reinterpret_cast<__half2 *>(dst) = __floats2half2_rn(a, b);
}
static __device__ __forceinline__ void lb_attn_store2(uint8_t *dst, float a, float b,
                                                      float inv_scale) {
    const __half2 h = __floats2half2_rn(a, b);
    *reinterpret_cast<uint16_t *>(dst) =
        (uint16_t)(lb_attn_e4m3(__low2half(h), inv_scale) |
                   lb_attn_e4m3(__high2half(h), inv_scale) << 8);
}

#endif
