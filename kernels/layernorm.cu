/* layernorm.cu — fused residual add + LayerNorm, in place (declared in layernorm.cuh).
 *
 * Maths, for every row t in 0..T-1 of x [T, H] (fp16), r [T, H] (fp16, or NULL = zeros),
 * gamma, beta [H] (fp32):
 *     v[i]   = x[t, i] + r[t, i]                         (fp32)
 *     mean   = sum_i v[i] / H                            (fp32)
 *     var    = sum_i (v[i] - mean)^2 / H                 (fp32, two passes, biased like torch)
 *     x[t,i] = fp16_rn((v[i] - mean) / sqrt(var + eps) * gamma[i] + beta[i])
 * eps is BERT's 1e-12, which underflows in fp16: it is added in fp32. Only the stored result is
 * rounded to fp16, once.
 *
 * Work split: one block per row. Two kernels:
 *  - ln_vec_kernel: H % 8 == 0, H <= 8 * 1024, every pointer 16-byte aligned. Thread j owns the
 *    8 values H[8j .. 8j+7] in registers (one 16-byte load of x, one of r), so the row is read
 *    from global memory once; blockDim = H/8 rounded up to a warp (LaBSE 768 → 96 threads).
 *  - ln_generic_kernel: any H. Threads stride over the row; each thread's fp32 sums v[i] are
 *    kept in dynamic shared memory (H floats) for the second and third pass, or, when the row
 *    does not fit the 48 KiB default (H > 12256: 48 KiB less the static red[32]), recomputed from global memory.
 * Reductions: warp shuffles (xor butterfly), then one float per warp in shared memory.
 * Rows are disjoint and each element is read before it is written by the same thread, so the
 * in-place update needs no extra barrier.
 * FP8 output (lb_add_layernorm_fp8; q8 != NULL): after the fp16 result, the row's amax over the
 * fp16-rounded values (a block max), then q[t, i] = E4M3(x[t, i] * 448 / amax) and scale[t] —
 * exactly what lb_quant_rows_fp8 (quant_fp8.cuh) makes of the stored row, one launch fewer. No state: thread-safe; enqueued on the given stream. */
#include <stddef.h>
#include <stdint.h>

#include "layernorm.cuh"
#include "reduce.cuh"

#define E4M3_MAX 448.0f

/* The row's fp8 codes and scale from its amax (quant_fp8.cuh's definition); thread 0 writes the
 * scale. */
static __device__ inline float ln_inv(float amax) { return amax > 0.0f ? E4M3_MAX / amax : 0.0f; }
static __device__ inline void ln_scale(float amax, float *scale) {
    if (threadIdx.x == 0) scale[blockIdx.x] = amax > 0.0f ? amax / E4M3_MAX : 1.0f;
}

#define LN_VEC 8              /* halves per 16-byte vector */
#define LN_MAX_THREADS 1024   /* vector path: one vector per thread */
#define LN_GENERIC_THREADS 256
/* Static + dynamic shared memory of a block without the opt-in attribute: 48 KiB. The generic
 * kernel's static part is red[32]; the cached row gets the rest (H <= 12256). */
#define LN_SMEM_LIMIT (48 * 1024)
#define LN_STATIC_SMEM (32 * sizeof(float))

struct alignas(16) ln_h8 { __half v[LN_VEC]; };
struct alignas(16) ln_f4 { float v[4]; };

static __global__ void ln_vec_kernel(__half *__restrict__ x, const __half *__restrict__ r,
                                     const float *__restrict__ gamma,
                                     const float *__restrict__ beta, int H, float eps,
                                     __nv_fp8_e4m3 *__restrict__ q8, float *__restrict__ scale) {
    __shared__ float red[32];
    const int j = threadIdx.x;               /* vector index in the row */
    const bool active = j * LN_VEC < H;
    const size_t off = (size_t)blockIdx.x * (size_t)H + (size_t)j * LN_VEC;
    float v[LN_VEC];
    float s = 0.0f;
    if (active) {
        ln_h8 a = *reinterpret_cast<const ln_h8 *>(x + off);
        for (int k = 0; k < LN_VEC; k++) v[k] = __half2float(a.v[k]);
        if (r) {
            ln_h8 b = *reinterpret_cast<const ln_h8 *>(r + off);
            for (int k = 0; k < LN_VEC; k++) v[k] += __half2float(b.v[k]);
        }
        for (int k = 0; k < LN_VEC; k++) s += v[k];
    }
    const float mean = lb_block_sum(s, red) / (float)H;
    float q = 0.0f;
    if (active)
        for (int k = 0; k < LN_VEC; k++) {
            const float d = v[k] - mean;
            q += d * d;
        }
    const float var = lb_block_sum(q, red) / (float)H;
    const float rstd = 1.0f / sqrtf(var + eps);
    if (active) {
        const ln_f4 *g4 = reinterpret_cast<const ln_f4 *>(gamma + (size_t)j * LN_VEC);
        const ln_f4 *b4 = reinterpret_cast<const ln_f4 *>(beta + (size_t)j * LN_VEC);
        ln_f4 g[2] = {g4[0], g4[1]}, b[2] = {b4[0], b4[1]};
        ln_h8 o;
        for (int k = 0; k < LN_VEC; k++)
            o.v[k] = __float2half_rn((v[k] - mean) * rstd * g[k / 4].v[k % 4] + b[k / 4].v[k % 4]);
        *reinterpret_cast<ln_h8 *>(x + off) = o;
        if (q8)
            for (int k = 0; k < LN_VEC; k++) v[k] = __half2float(o.v[k]); /* the stored values */
    }
    if (!q8) return; /* uniform across the block */
    float m = 0.0f;
    if (active)
        for (int k = 0; k < LN_VEC; k++) m = fmaxf(m, fabsf(v[k]));
    const float amax = lb_block_max(m, red), inv = ln_inv(amax);
    if (active)
        for (int k = 0; k < LN_VEC; k++) q8[off + k] = __nv_fp8_e4m3(v[k] * inv);
    ln_scale(amax, scale);
}

/* cached: the fp32 row is kept in dynamic shared memory (H floats), else recomputed. */
static __global__ void ln_generic_kernel(__half *__restrict__ x, const __half *__restrict__ r,
                                         const float *__restrict__ gamma,
                                         const float *__restrict__ beta, int H, float eps,
                                         int cached, __nv_fp8_e4m3 *__restrict__ q8,
                                         float *__restrict__ scale) {
    LB_DYN_SMEM(float, row);
    __shared__ float red[32];
    __half *xr = x + (size_t)blockIdx.x * (size_t)H;
    const __half *rr = r ? r + (size_t)blockIdx.x * (size_t)H : NULL;
    float s = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        float v = __half2float(xr[i]);
        if (rr) v += __half2float(rr[i]);
        if (cached) row[i] = v;
        s += v;
    }
    const float mean = lb_block_sum(s, red) / (float)H;
    float q = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = cached ? row[i] : __half2float(xr[i]) + (rr ? __half2float(rr[i]) : 0.0f);
        const float d = v - mean;
        q += d * d;
    }
    const float var = lb_block_sum(q, red) / (float)H;
    const float rstd = 1.0f / sqrtf(var + eps);
    float m = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = cached ? row[i] : __half2float(xr[i]) + (rr ? __half2float(rr[i]) : 0.0f);
        const __half o = __float2half_rn((v - mean) * rstd * gamma[i] + beta[i]);
        xr[i] = o;
        m = fmaxf(m, fabsf(__half2float(o)));
    }
    if (!q8) return; /* uniform across the block */
    /* each thread reads back only the elements it wrote itself */
    const float amax = lb_block_max(m, red), inv = ln_inv(amax);
    __nv_fp8_e4m3 *qr = q8 + (size_t)blockIdx.x * (size_t)H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) qr[i] = __nv_fp8_e4m3(__half2float(xr[i]) * inv);
    ln_scale(amax, scale);
}

static inline int ln_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

LB_EXTERN_C_BEGIN

cudaError_t lb_add_layernorm_fp8(lb_half *x, const lb_half *r, const float *gamma,
                                 const float *beta, int T, int H, float eps, uint8_t *q8,
                                 float *scale, cudaStream_t stream) {
    if (T < 0 || H <= 0 || !(eps >= 0.0f)) return cudaErrorInvalidValue;
    if (T == 0) return cudaSuccess;
    if (!x || !gamma || !beta || !q8 != !scale) return cudaErrorInvalidValue;
    __nv_fp8_e4m3 *q = reinterpret_cast<__nv_fp8_e4m3 *>(q8);
    __half *xd = reinterpret_cast<__half *>(x);
    const __half *rd = reinterpret_cast<const __half *>(r);
    const int vec = H % LN_VEC == 0 && H / LN_VEC <= LN_MAX_THREADS && ln_aligned16(x) &&
                    (r == NULL || ln_aligned16(r)) && ln_aligned16(gamma) && ln_aligned16(beta);
    if (vec) {
        const int threads = (H / LN_VEC + 31) / 32 * 32;
        LB_LAUNCH(ln_vec_kernel, dim3(T), dim3(threads), 0, stream, xd, rd, gamma, beta, H, eps, q,
                  scale);
    } else {
        int threads = (H + 31) / 32 * 32;
        if (threads > LN_GENERIC_THREADS) threads = LN_GENERIC_THREADS;
        const int cached = (size_t)H * sizeof(float) <= LN_SMEM_LIMIT - LN_STATIC_SMEM;
        const size_t smem = cached ? (size_t)H * sizeof(float) : 0;
        LB_LAUNCH(ln_generic_kernel, dim3(T), dim3(threads), smem, stream, xd, rd, gamma, beta, H,
                  eps, cached, q, scale);
    }
    return cudaGetLastError();
}

cudaError_t lb_add_layernorm(lb_half *x, const lb_half *r, const float *gamma, const float *beta,
                             int T, int H, float eps, cudaStream_t stream) {
    return lb_add_layernorm_fp8(x, r, gamma, beta, T, H, eps, NULL, NULL, stream);
}

LB_EXTERN_C_END
