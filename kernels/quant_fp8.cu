/* quant_fp8.cu — FP8 E4M3 activation quantiser and the fp8 GEMMs' fallback epilogue (declared,
 * with the maths, in quant_fp8.cuh).
 *
 * lb_quant_rows_fp8: one block per row, threads striding over it: pass 1 the row's amax (block
 * max through warp shuffles and one shared float per warp), pass 2 the E4M3 codes
 * (__nv_fp8_e4m3's constructor: round to nearest even, SATFINITE) and, by thread 0, the scale.
 * lb_fp8_dequant / lb_fp8_dequant_q: one element-wise kernel body, a grid-stride loop over T x N,
 * templated on the output (fp16, or E4M3 codes of v times the static inverse scale).
 * lb_fp8_fill_scale: a grid-stride fill.
 * No state: thread-safe; enqueued on the given stream. */
#include <stddef.h>
#include <stdint.h>

#include "quant_fp8.cuh"
#include "reduce.cuh"

#define Q_THREADS 256
#define DQ_THREADS 256
#define E4M3_MAX 448.0f

static __global__ void quant_rows_kernel(const __half *__restrict__ x, int H,
                                         __nv_fp8_e4m3 *__restrict__ q, float *__restrict__ scale) {
    __shared__ float red[32];
    const __half *xr = x + (size_t)blockIdx.x * (size_t)H;
    __nv_fp8_e4m3 *qr = q + (size_t)blockIdx.x * (size_t)H;
    float m = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) m = fmaxf(m, fabsf(__half2float(xr[i])));
    const float amax = lb_block_max(m, red);
    const float inv = amax > 0.0f ? E4M3_MAX / amax : 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) qr[i] = __nv_fp8_e4m3(__half2float(xr[i]) * inv);
    if (threadIdx.x == 0) scale[blockIdx.x] = amax > 0.0f ? amax / E4M3_MAX : 1.0f;
}

/* The output of the dequantising epilogue: fp16 (the residual's old value readable), or E4M3
 * codes of v * inv (one fp32 product, then the constructor's round to nearest even, SATFINITE). */
static __device__ inline float dq_old(const __half *y, size_t i) { return __half2float(y[i]); }
static __device__ inline float dq_old(const __nv_fp8_e4m3 *, size_t) { return 0.0f; } /* no residual */
static __device__ inline void dq_put(__half *y, size_t i, float v, float) { y[i] = __float2half_rn(v); }
static __device__ inline void dq_put(__nv_fp8_e4m3 *y, size_t i, float v, float inv) {
    y[i] = __nv_fp8_e4m3(v * inv);
}

/* One body for both outputs (quant_fp8.cuh's maths); inv: *d_inv, or 1 without it (fp16). */
template <class Out>
static __global__ void dequant_kernel(const float *__restrict__ acc, int T, int N,
                                      const float *__restrict__ sw, const float *__restrict__ sx,
                                      const __half *__restrict__ bias, int gelu, int resid,
                                      const float *__restrict__ d_inv, Out *__restrict__ y) {
    const size_t total = (size_t)T * (size_t)N;
    const float inv = d_inv ? *d_inv : 1.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / (size_t)N, n = i % (size_t)N;
        float v = acc[i] * sw[n] * sx[t];
        if (resid) v = v + dq_old(y, i);
        if (bias) v = v + __half2float(bias[n]);
        if (gelu) v = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
        dq_put(y, i, v, inv);
    }
}

/* The grid of the epilogue over T x N elements: one thread each, at most 65535 blocks (the
 * grid-stride loop covers the rest). */
static unsigned dq_blocks(int T, int N) {
    const size_t blocks = ((size_t)T * (size_t)N + DQ_THREADS - 1) / DQ_THREADS;
    return blocks > 65535 ? 65535u : (unsigned)blocks;
}

LB_EXTERN_C_BEGIN

cudaError_t lb_quant_rows_fp8(const lb_half *x, int T, int H, uint8_t *q, float *scale,
                              cudaStream_t stream) {
    if (T < 0 || H <= 0) return cudaErrorInvalidValue;
    if (T == 0) return cudaSuccess;
    if (!x || !q || !scale) return cudaErrorInvalidValue;
    int threads = (H + 31) / 32 * 32;
    if (threads > Q_THREADS) threads = Q_THREADS;
    LB_LAUNCH(quant_rows_kernel, dim3(T), dim3(threads), 0, stream,
              reinterpret_cast<const __half *>(x), H, reinterpret_cast<__nv_fp8_e4m3 *>(q), scale);
    return cudaGetLastError();
}

cudaError_t lb_fp8_dequant(const float *acc, int T, int N, const float *sw, const float *sx,
                           const lb_half *bias, int gelu, int resid, lb_half *y,
                           cudaStream_t stream) {
    if (T < 0 || N <= 0) return cudaErrorInvalidValue;
    if (T == 0) return cudaSuccess;
    if (!acc || !sw || !sx || !y) return cudaErrorInvalidValue;
    LB_LAUNCH(dequant_kernel<__half>, dim3(dq_blocks(T, N)), dim3(DQ_THREADS), 0, stream, acc, T, N, sw, sx,
              reinterpret_cast<const __half *>(bias), gelu, resid, (const float *)NULL,
              reinterpret_cast<__half *>(y));
    return cudaGetLastError();
}

cudaError_t lb_fp8_dequant_q(const float *acc, int T, int N, const float *sw, const float *sx,
                             const lb_half *bias, int gelu, const float *d_inv, uint8_t *y8,
                             cudaStream_t stream) {
    if (T < 0 || N <= 0) return cudaErrorInvalidValue;
    if (T == 0) return cudaSuccess;
    if (!acc || !sw || !sx || !d_inv || !y8) return cudaErrorInvalidValue;
    LB_LAUNCH(dequant_kernel<__nv_fp8_e4m3>, dim3(dq_blocks(T, N)), dim3(DQ_THREADS), 0, stream, acc, T, N, sw,
              sx, reinterpret_cast<const __half *>(bias), gelu, 0, d_inv, reinterpret_cast<__nv_fp8_e4m3 *>(y8));
    return cudaGetLastError();
}

static __global__ void fill_kernel(float *__restrict__ x, int n, float v) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] = v;
}

cudaError_t lb_fp8_fill_scale(float *s, int n, float v, cudaStream_t stream) {
    if (n < 0) return cudaErrorInvalidValue;
    if (n == 0) return cudaSuccess;
    if (!s) return cudaErrorInvalidValue;
    LB_LAUNCH(fill_kernel, dim3(dq_blocks(1, n)), dim3(DQ_THREADS), 0, stream, s, n, v);
    return cudaGetLastError();
}

LB_EXTERN_C_END
