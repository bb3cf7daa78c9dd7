/* reduce.cuh — device helpers shared by the row-wise kernels (embed.cu, layernorm.cu, pool.cu,
 * quant_fp8.cu): sums (and maxima) over a warp and over a block through warp shuffles and one
 * shared float per warp.
 * Device code only; include from .cu files after cuda_compat.h. */
#ifndef LB_REDUCE_CUH
#define LB_REDUCE_CUH

#include "cuda_compat.h"

/* Sum over a warp; every lane gets the result. All 32 lanes must call. */
static __device__ inline float lb_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
 * red: __shared__ float[32]. The leading barrier lets the caller reuse red right away. */
static __device__ inline float lb_block_sum(float v, float *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = lb_warp_sum(v);
    if (nwarps == 1) return v;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < nwarps ? red[lane] : 0.0f;
    return lb_warp_sum(v);
}

/* Maximum over the block (same rules and red as lb_block_sum); fmaxf: a NaN input is skipped
 * (a NaN value still propagates through the quantised codes). */
static __device__ inline float lb_block_max(float v, float *red) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (nwarps == 1) return v;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < nwarps ? red[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
