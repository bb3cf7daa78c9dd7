/* pool.cu — the end of the forward pass (declared in pool.cuh).
 *
 * lb_pool: for each sequence s in 0..n-1, rows b = cu_seqlens[s] .. e-1 (e = cu_seqlens[s+1])
 * of x [T, H] fp16:
 *     CLS   out[s, i] = x[b, i]                                  (a copy, bit for bit)
 *     MEAN  out[s, i] = fp16_rn((sum_{t=b}^{e-1} x[t, i]) / (e - b))   (fp32 sum)
 * out [n, H] fp16. A sequence of length 0 (not allowed by the contract) gets a zero row
 * instead of a read outside its rows or a division by zero.
 * Work split: grid (n, ceil(H / 256)); each thread owns one column of one sequence and walks
 * its rows, so every warp reads 32 consecutive halves of a row (coalesced).
 *
 * lb_l2norm_out: for each row s in 0..n-1 of y [n, N] fp16:
 *     normalize  out[s, i] = y[s, i] / max(sqrt(sum_i y[s, i]^2), 1e-12)   (fp32; F.normalize)
 *     otherwise  out[s, i] = y[s, i] widened to fp32 (exact)
 * out [n, N] fp32. Work split: one block per row; block-wide sum of squares in fp32 (warp
 * shuffles, then one float per warp in shared memory); the division is a true fp32 division.
 * No state: thread-safe; enqueued on the given stream. */
#include <stddef.h>
#include <stdint.h>

#include "pool.cuh"
#include "reduce.cuh"

#define POOL_THREADS 256
#define L2_MAX_THREADS 256

static __global__ void pool_kernel(__half *__restrict__ out, const __half *__restrict__ x,
                                   const int32_t *__restrict__ cu, int H, int mode) {
    const int s = blockIdx.x;
    const int i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i >= H) return;
    const int b = cu[s], e = cu[s + 1];
    __half *o = out + (size_t)s * H + i;
    if (e <= b) {
        *o = __float2half_rn(0.0f);
        return;
    }
    if (mode == LB_KPOOL_CLS) {
        *o = x[(size_t)b * H + i];
        return;
    }
    float acc = 0.0f;
    for (int t = b; t < e; t++) acc += __half2float(x[(size_t)t * H + i]);
    *o = __float2half_rn(acc / (float)(e - b));
}

static __global__ void l2norm_kernel(float *__restrict__ out, const __half *__restrict__ y,
                                     int N, int normalize) {
    __shared__ float red[32];
    const __half *yr = y + (size_t)blockIdx.x * N;
    float *orow = out + (size_t)blockIdx.x * N;
    if (!normalize) {
        for (int i = threadIdx.x; i < N; i += blockDim.x) orow[i] = __half2float(yr[i]);
        return;
    }
    float q = 0.0f;
    for (int i = threadIdx.x; i < N; i += blockDim.x) {
        const float v = __half2float(yr[i]);
        q += v * v;
    }
    const float norm = sqrtf(lb_block_sum(q, red));
    const float d = norm > 1e-12f ? norm : 1e-12f;
    for (int i = threadIdx.x; i < N; i += blockDim.x) orow[i] = __half2float(yr[i]) / d;
}

LB_EXTERN_C_BEGIN

/* Errors: cudaErrorInvalidValue for n < 0, H <= 0, an unknown mode, or a NULL pointer (n > 0).
 * n == 0: nothing to do, cudaSuccess, no launch. */
cudaError_t lb_pool(lb_half *out, const lb_half *x, const int32_t *cu_seqlens, int n, int H,
                    int mode, cudaStream_t stream) {
    if (n < 0 || H <= 0 || (mode != LB_KPOOL_CLS && mode != LB_KPOOL_MEAN))
        return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    if (!out || !x || !cu_seqlens) return cudaErrorInvalidValue;
    const int threads = H < POOL_THREADS ? (H + 31) / 32 * 32 : POOL_THREADS;
    const dim3 grid((unsigned)n, (unsigned)((H + threads - 1) / threads));
    LB_LAUNCH(pool_kernel, grid, dim3(threads), 0, stream, reinterpret_cast<__half *>(out),
              reinterpret_cast<const __half *>(x), cu_seqlens, H, mode);
    return cudaGetLastError();
}

/* Errors: cudaErrorInvalidValue for n < 0, N <= 0 or a NULL pointer (n > 0). n == 0: nothing
 * to do, cudaSuccess, no launch. */
cudaError_t lb_l2norm_out(float *out, const lb_half *y, int n, int N, int normalize,
                          cudaStream_t stream) {
    if (n < 0 || N <= 0) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    if (!out || !y) return cudaErrorInvalidValue;
    const int threads = N < L2_MAX_THREADS ? (N + 31) / 32 * 32 : L2_MAX_THREADS;
    LB_LAUNCH(l2norm_kernel, dim3((unsigned)n), dim3(threads), 0, stream, out,
              reinterpret_cast<const __half *>(y), N, normalize);
    return cudaGetLastError();
}

LB_EXTERN_C_END
