/* quant_fp8.cu — FP8 E4M3 activation quantiser and the fp8 GEMMs' fallback epilogue (declared,
 * with the maths, in quant_fp8.cuh).
 *
 * lb_quant_rows_fp8: one block per row, threads striding over it: pass 1 the row's amax (block
 * max through warp shuffles and one shared float per warp), pass 2 the E4M3 codes
 * (__nv_fp8_e4m3's constructor: round to nearest even, SATFINITE) and, by thread 0, the scale.
 * lb_fp8_dequant: element-wise, a grid-stride loop over T x N.
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

static __global__ void dequant_kernel(const float *__restrict__ acc, int T, int N,
                                      const float *__restrict__ sw, const float *__restrict__ sx,
                                      const __half *__restrict__ bias, int gelu, int resid,
                                      __half *__restrict__ y) {
    const size_t total = (size_t)T * (size_t)N;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / (size_t)N, n = i % (size_t)N;
        float v = acc[i] * sw[n] * sx[t];
        if (resid) v = v + __half2float(y[i]);
        if (bias) v = v + __half2float(bias[n]);
        if (gelu) v = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
        y[i] = __float2half_rn(v);
    }
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
    const size_t total = (size_t)T * (size_t)N;
    size_t blocks = (total + DQ_THREADS - 1) / DQ_THREADS;
    if (blocks > 65535) blocks = 65535;
    LB_LAUNCH(dequant_kernel, dim3((unsigned)blocks), dim3(DQ_THREADS), 0, stream, acc, T, N, sw, sx,
              reinterpret_cast<const __half *>(bias), gelu, resid, reinterpret_cast<__half *>(y));
    return cudaGetLastError();
}

LB_EXTERN_C_END
