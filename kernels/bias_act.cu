/* bias_act.cu — bias + activation, in place (declared in bias_act.cuh).
 *
 * Maths: y[r, c] = fp16_rn(act(y[r, c] + bias[c])) for y [rows, N] fp16 (row-major,
 * contiguous) and bias [N] fp16 (NULL = no bias), in fp32:
 *     identity  v
 *     tanh      tanhf(v)
 *     gelu      0.5 v (1 + erf(v / sqrt 2))      (exact erf GELU, as BERT; not the tanh form)
 *     relu      v < 0 ? 0 : v                     (NaN stays NaN, as torch)
 *     gelu_tanh 0.5 v (1 + tanh(sqrt(2/pi) (v + 0.044715 v^3)))   (the tanh form)
 * One fp16 rounding, of the result.
 *
 * Work split: element-wise over rows * N, a grid-stride loop (size_t indices).
 *  - vector path (N % 8 == 0, y and bias 16-byte aligned): one 16-byte load/store of 8 halves
 *    per step; the 8 columns c..c+7 never straddle a row because N % 8 == 0;
 *  - scalar path otherwise.
 * The activation is a template parameter (one kernel per activation, no per-element switch).
 * No state: thread-safe; enqueued on the given stream. */
#include <stddef.h>
#include <stdint.h>

#include "bias_act.cuh"

#define BA_VEC 8
#define BA_THREADS 256
#define BA_MAX_BLOCKS 65535  /* grid-stride beyond this */

struct alignas(16) ba_h8 { __half v[BA_VEC]; };

template <int ACT>
static __device__ inline float ba_act(float v) {
    if (ACT == LB_KACT_TANH) return tanhf(v);
    if (ACT == LB_KACT_GELU) return 0.5f * v * (1.0f + erff(v * 0.70710678f));
    if (ACT == LB_KACT_RELU) return v < 0.0f ? 0.0f : v;
    if (ACT == LB_KACT_GELU_TANH)
        return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    return v;
}

/* nvec = rows * N / 8 vectors; nvec_row = N / 8. */
template <int ACT>
static __global__ void ba_vec_kernel(__half *__restrict__ y, const __half *__restrict__ bias,
                                     size_t nvec, int nvec_row) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < nvec;
         i += (size_t)gridDim.x * blockDim.x) {
        ba_h8 a = reinterpret_cast<ba_h8 *>(y)[i];
        float v[BA_VEC];
        for (int k = 0; k < BA_VEC; k++) v[k] = __half2float(a.v[k]);
        if (bias) {
            const ba_h8 b = reinterpret_cast<const ba_h8 *>(bias)[i % (size_t)nvec_row];
            for (int k = 0; k < BA_VEC; k++) v[k] += __half2float(b.v[k]);
        }
        for (int k = 0; k < BA_VEC; k++) a.v[k] = __float2half_rn(ba_act<ACT>(v[k]));
        reinterpret_cast<ba_h8 *>(y)[i] = a;
    }
}

/* total = rows * N elements. */
template <int ACT>
static __global__ void ba_scalar_kernel(__half *__restrict__ y, const __half *__restrict__ bias,
                                        size_t total, int N) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = __half2float(y[i]);
        if (bias) v += __half2float(bias[i % (size_t)N]);
        y[i] = __float2half_rn(ba_act<ACT>(v));
    }
}

template <int ACT>
static void ba_launch(__half *y, const __half *bias, int rows, int N, cudaStream_t stream) {
    const int vec = N % BA_VEC == 0 && ((uintptr_t)y & 15u) == 0 &&
                    (bias == NULL || ((uintptr_t)bias & 15u) == 0);
    const size_t items = vec ? (size_t)rows * (size_t)(N / BA_VEC) : (size_t)rows * (size_t)N;
    size_t blocks = (items + BA_THREADS - 1) / BA_THREADS;
    if (blocks > BA_MAX_BLOCKS) blocks = BA_MAX_BLOCKS;
    if (vec) {
        auto k = ba_vec_kernel<ACT>;
        LB_LAUNCH(k, dim3((unsigned)blocks), dim3(BA_THREADS), 0, stream, y, bias, items,
                  N / BA_VEC);
    } else {
        auto k = ba_scalar_kernel<ACT>;
        LB_LAUNCH(k, dim3((unsigned)blocks), dim3(BA_THREADS), 0, stream, y, bias, items, N);
    }
}

LB_EXTERN_C_BEGIN

/* Errors: cudaErrorInvalidValue for rows < 0, N <= 0, y NULL (rows > 0) or an unknown act.
 * rows == 0: nothing to do, cudaSuccess, no launch. */
cudaError_t lb_bias_act(lb_half *y, const lb_half *bias, int rows, int N, int act,
                        cudaStream_t stream) {
    if (rows < 0 || N <= 0) return cudaErrorInvalidValue;
    if (act != LB_KACT_IDENTITY && act != LB_KACT_TANH && act != LB_KACT_GELU &&
        act != LB_KACT_RELU && act != LB_KACT_GELU_TANH)
        return cudaErrorInvalidValue;
    if (rows == 0) return cudaSuccess;
    if (!y) return cudaErrorInvalidValue;
    __half *yd = reinterpret_cast<__half *>(y);
    const __half *bd = reinterpret_cast<const __half *>(bias);
    switch (act) {
    case LB_KACT_IDENTITY: ba_launch<LB_KACT_IDENTITY>(yd, bd, rows, N, stream); break;
    case LB_KACT_TANH: ba_launch<LB_KACT_TANH>(yd, bd, rows, N, stream); break;
    case LB_KACT_GELU: ba_launch<LB_KACT_GELU>(yd, bd, rows, N, stream); break;
    case LB_KACT_GELU_TANH: ba_launch<LB_KACT_GELU_TANH>(yd, bd, rows, N, stream); break;
    default: ba_launch<LB_KACT_RELU>(yd, bd, rows, N, stream); break;
    }
    return cudaGetLastError();
}

LB_EXTERN_C_END
