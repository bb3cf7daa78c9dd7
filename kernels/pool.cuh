/* pool.cuh — launchers of the end of the forward pass (pool.cu): pooling of each sequence's
 * rows, and the final (optional) L2 normalisation into fp32 output rows. */
#ifndef LB_POOL_CUH
#define LB_POOL_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* Pooling modes: the same numbers as labse_pooling in include/labse.h. */
#define LB_KPOOL_CLS 0
#define LB_KPOOL_MEAN 1

/* out[s, :] = x[cu_seqlens[s], :] (CLS) or the mean of x[cu_seqlens[s] .. cu_seqlens[s+1]-1, :]
 * (MEAN, summed in fp32), for s in 0..n-1; rounded to fp16.
 *   out [n, H] fp16;  x [T, H] fp16;  cu_seqlens [n + 1] int32 (device), lengths >= 1.
 * cudaErrorInvalidValue for an unknown mode. Enqueued on `stream`; returns the launch's error. */
cudaError_t lb_pool(lb_half *out, const lb_half *x, const int32_t *cu_seqlens, int n, int H,
                    int mode, cudaStream_t stream);

/* out[s, :] = y[s, :] / max(||y[s, :]||_2, 1e-12) when normalize (torch's F.normalize), else
 * y[s, :] widened; norm in fp32.  out [n, N] fp32;  y [n, N] fp16. Device pointers. */
cudaError_t lb_l2norm_out(float *out, const lb_half *y, int n, int N, int normalize,
                          cudaStream_t stream);

LB_EXTERN_C_END

#endif
