/* layernorm.cuh — launcher of the fused residual add + LayerNorm kernel (layernorm.cu). */
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

LB_EXTERN_C_END

#endif
