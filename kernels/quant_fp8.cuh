/* quant_fp8.cuh — launchers of the FP8 E4M3 kernels (quant_fp8.cu): the row-wise activation
 * quantiser, the fallback dequantising epilogue of the fp8 GEMMs (src/gpu/gpu_gemm.c; fp16 or
 * E4M3 output) and the fill of a per-tensor scale vector.
 *
 * The row scale, one definition everywhere (this file, the fused LayerNorm in layernorm.cu, the
 * weights at load in src/gpu/gpu_model.c, and the tests' references through src/base/fp8.h):
 *     amax  = max_i |x[i]|                   (the row's values as stored: fp16 here, fp32 W)
 *     inv   = 448 / amax,  scale = amax / 448       (fp32, each one IEEE division; amax 0:
 *                                                    inv 0, scale 1)
 *     q[i]  = E4M3(x[i] * inv)               (one fp32 product, then round to nearest even,
 *                                              SATFINITE)
 * so q[i] * scale ≈ x[i] and the largest |x| maps to ±448. A row's scale depends on that row
 * only: a token's (or an output channel's) quantisation never depends on the rest of the batch. */
#ifndef LB_QUANT_FP8_CUH
#define LB_QUANT_FP8_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* q[t, :], scale[t] = the rows of x quantised as above, for t in 0..T-1.
 *   x [T, H] fp16;  q [T, H] E4M3 codes;  scale [T] fp32.
 * Device pointers; any H >= 1. Enqueued on `stream`; returns the launch's error. Thread-safe. */
cudaError_t lb_quant_rows_fp8(const lb_half *x, int T, int H, uint8_t *q, float *scale,
                              cudaStream_t stream);

/* The fp8 GEMM's epilogue when cuBLASLt has no outer-vector scaling (gpu_gemm.c): from the
 * unscaled fp32 product acc[t, n] = sum_k q_x[t, k] q_w[n, k] (cuBLASLt, scale 1),
 *     v = acc[t, n] * sw[n] * sx[t]          (fp32, in this order: as the emulated cuBLASLt
 *                                             applies outer-vector scales)
 *     v = v + y[t, n]   when resid            (the residual, y's old fp16 value)
 *     v = v + bias[n]   when bias
 *     v = gelu_tanh(v)  when gelu             (cuBLASLt's GELU form)
 *     y[t, n] = fp16_rn(v)
 *   acc [T, N] fp32;  sw [N], sx [T] fp32;  bias [N] fp16 or NULL;  y [T, N] fp16 (in/out).
 * Device pointers; any T >= 0, N >= 1. Enqueued on `stream`; returns the launch's error.
 * Thread-safe. */
cudaError_t lb_fp8_dequant(const float *acc, int T, int N, const float *sw, const float *sx,
                           const lb_half *bias, int gelu, int resid, lb_half *y,
                           cudaStream_t stream);

/* lb_fp8_dequant with E4M3 output and a static scale (the FFN-up GEMM's GELU output written as
 * the next GEMM's operand): the same v as above (no residual), then
 *     y8[t, n] = E4M3(v * d_inv[0])          (one fp32 product, round to nearest even,
 *                                              SATFINITE: beyond ±448 → ±448)
 * so y8 · (1 / d_inv) ≈ v, every token with the one scale.
 *   acc [T, N] fp32;  sw [N], sx [T] fp32;  bias [N] fp16 or NULL;  d_inv [1] fp32;
 *   y8 [T, N] E4M3 codes (out).
 * Device pointers; any T >= 0, N >= 1. Enqueued on `stream`; returns the launch's error.
 * Thread-safe. */
cudaError_t lb_fp8_dequant_q(const float *acc, int T, int N, const float *sw, const float *sx,
                             const lb_half *bias, int gelu, const float *d_inv, uint8_t *y8,
                             cudaStream_t stream);

/* s[0..n-1] = v: a per-tensor activation scale as the fp8 GEMMs' per-token vector (lb_gemm_fp8's
 * sx, cuBLASLt's B outer vector: every token with the one scale). s: device, n >= 0 floats.
 * Enqueued on `stream`; returns the launch's error. Thread-safe. */
cudaError_t lb_fp8_fill_scale(float *s, int n, float v, cudaStream_t stream);

LB_EXTERN_C_END

#endif
