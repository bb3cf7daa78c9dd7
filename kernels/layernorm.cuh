/* layernorm.cuh — launchers of the fused residual add + LayerNorm kernel (layernorm.cu), with an
 * optional FP8 E4M3 copy of its output. */
#ifndef LB_LAYERNORM_CUH
#define LB_LAYERNORM_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* x[t, :] = LayerNorm(x[t, :] + r[t, :]) * gamma + beta, in place, for t in 0..T-1.
 *   x [T, H] fp16 in/out;  r [T, H] fp16 or NULL (plain LayerNorm);  gamma, beta [H] fp32.
 * The sum is formed in fp32 and the statistics are fp32 (eps 1e-12 underflows in fp16); the
 * result is rounded to fp16 once. Device pointers; any H >= 1. Enqueued on `stream`; returns
 * the launch's error. Thread-safe. */
cudaError_t lb_add_layernorm(lb_half *x, const lb_half *r, const float *gamma, const float *beta,
                             int T, int H, float eps, cudaStream_t stream);

/* lb_add_layernorm, and also the rows' FP8 E4M3 copy for the next fp8 GEMM: q8 [T, H] codes and
 * scale [T] fp32, quantised from the stored fp16 row as lb_quant_rows_fp8 (quant_fp8.cuh)
 * defines it (bit-identical to that kernel run on the result). q8 and scale both NULL: no fp8
 * copy (= lb_add_layernorm); one NULL without the other: cudaErrorInvalidValue. */
cudaError_t lb_add_layernorm_fp8(lb_half *x, const lb_half *r, const float *gamma,
                                 const float *beta, int T, int H, float eps, uint8_t *q8,
                                 float *scale, cudaStream_t stream);

LB_EXTERN_C_END

#endif
