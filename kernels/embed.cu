/* embed.cu — embedding lookup + LayerNorm, one kernel (declared in embed.cuh).
 *
 * Maths, for every token t in 0..T-1 of the packed batch (n sequences, cu_seqlens [n + 1]):
 *     s      = the sequence with cu_seqlens[s] <= t < cu_seqlens[s + 1]   (binary search)
 *     p      = t - cu_seqlens[s]                              (positions restart per sequence)
 *     v[i]   = word[ids[t], i] + pos[p, i] + type[0, i]       (fp16 tables, fp32 sum)
 *     mean   = sum_i v[i] / H,   var = sum_i (v[i] - mean)^2 / H        (fp32, two passes)
 *     x[t,i] = fp16_rn((v[i] - mean) / sqrt(var + eps) * gamma[i] + beta[i])
 * Shapes: x [T, H] fp16 out; ids [T] int32; word [V, H], pos [P, H], type [>= 1, H] fp16;
 * gamma, beta [H] fp32. eps (1e-12) is added in fp32. ids must lie in 0..V-1 and sequence
 * lengths must be <= P: the host checks both (the kernel has no V or P to check against).
 *
 * Work split: one block per token; every thread runs the (short, log2 n) binary search itself,
 * reading the same cu_seqlens words, so no barrier or broadcast is needed for it. Two kernels,
 * as in layernorm.cu:
 *  - emb_vec_kernel: H % 8 == 0, H <= 8192, all pointers 16-byte aligned: thread j holds the 8
 *    fp32 sums of columns 8j..8j+7 in registers (three 16-byte loads, one 16-byte store);
 *  - emb_generic_kernel: any H; the fp32 row lives in dynamic shared memory (H floats) or, when
 *    H > 12256 (48 KiB less the static red[32]), is recomputed from the tables for each pass.
 * Reductions: warp shuffles, then one float per warp in shared memory. No state: thread-safe. */
#include <stddef.h>
#include <stdint.h>

#include "embed.cuh"
#include "reduce.cuh"

#define EMB_VEC 8
#define EMB_MAX_THREADS 1024
#define EMB_GENERIC_THREADS 256
/* Static + dynamic shared memory of a block without the opt-in attribute: 48 KiB. The generic
 * kernel's static part is red[32]; the cached row gets the rest (H <= 12256). */
#define EMB_SMEM_LIMIT (48 * 1024)
#define EMB_STATIC_SMEM (32 * sizeof(float))

struct alignas(16) emb_h8 { __half v[EMB_VEC]; };
struct alignas(16) emb_f4 { float v[4]; };

/* Position of token t in its sequence: t - cu[s] for the largest s in 0..n-1 with cu[s] <= t
 * (empty sequences are skipped correctly: cu[n] = T > t). */
static __device__ inline int emb_position(const int32_t *__restrict__ cu, int n, int t) {
    int lo = 0, hi = n;
    while (hi - lo > 1) {
        const int mid = (lo + hi) >> 1;
        if (cu[mid] <= t) lo = mid;
        else hi = mid;
    }
    return t - cu[lo];
}

static __global__ void emb_vec_kernel(__half *__restrict__ x, const int32_t *__restrict__ ids,
                                      const int32_t *__restrict__ cu, int n,
                                      const __half *__restrict__ word,
                                      const __half *__restrict__ pos,
                                      const __half *__restrict__ type,
                                      const float *__restrict__ gamma,
                                      const float *__restrict__ beta, int H, float eps) {
    __shared__ float red[32];
    const int t = blockIdx.x;
    const int j = threadIdx.x;
    const bool active = j * EMB_VEC < H;
    float v[EMB_VEC];
    float s = 0.0f;
    if (active) {
        const size_t c = (size_t)j * EMB_VEC;
        const int p = emb_position(cu, n, t);
        const emb_h8 w = *reinterpret_cast<const emb_h8 *>(word + (size_t)ids[t] * H + c);
        const emb_h8 q = *reinterpret_cast<const emb_h8 *>(pos + (size_t)p * H + c);
        const emb_h8 y = *reinterpret_cast<const emb_h8 *>(type + c);
        for (int k = 0; k < EMB_VEC; k++) {
            v[k] = __half2float(w.v[k]) + __half2float(q.v[k]) + __half2float(y.v[k]);
            s += v[k];
        }
    }
    const float mean = lb_block_sum(s, red) / (float)H;
    float q2 = 0.0f;
    if (active)
        for (int k = 0; k < EMB_VEC; k++) {
            const float d = v[k] - mean;
            q2 += d * d;
        }
    const float var = lb_block_sum(q2, red) / (float)H;
    const float rstd = 1.0f / sqrtf(var + eps);
    if (active) {
        const emb_f4 *g4 = reinterpret_cast<const emb_f4 *>(gamma + (size_t)j * EMB_VEC);
        const emb_f4 *b4 = reinterpret_cast<const emb_f4 *>(beta + (size_t)j * EMB_VEC);
        emb_f4 g[2] = {g4[0], g4[1]}, b[2] = {b4[0], b4[1]};
        emb_h8 o;
        for (int k = 0; k < EMB_VEC; k++)
            o.v[k] = __float2half_rn((v[k] - mean) * rstd * g[k / 4].v[k % 4] + b[k / 4].v[k % 4]);
        *reinterpret_cast<emb_h8 *>(x + (size_t)t * H + (size_t)j * EMB_VEC) = o;
    }
}

/* cached: the fp32 row is kept in dynamic shared memory (H floats), else recomputed. */
static __global__ void emb_generic_kernel(__half *__restrict__ x,
                                          const int32_t *__restrict__ ids,
                                          const int32_t *__restrict__ cu, int n,
                                          const __half *__restrict__ word,
                                          const __half *__restrict__ pos,
                                          const __half *__restrict__ type,
                                          const float *__restrict__ gamma,
                                          const float *__restrict__ beta, int H, float eps,
                                          int cached) {
    LB_DYN_SMEM(float, row);
    __shared__ float red[32];
    const int t = blockIdx.x;
    const __half *wr = word + (size_t)ids[t] * H;
    const __half *pr = pos + (size_t)emb_position(cu, n, t) * H;
    float s = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = __half2float(wr[i]) + __half2float(pr[i]) + __half2float(type[i]);
        if (cached) row[i] = v;
        s += v;
    }
    const float mean = lb_block_sum(s, red) / (float)H;
    float q = 0.0f;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = cached ? row[i]
                               : __half2float(wr[i]) + __half2float(pr[i]) + __half2float(type[i]);
        const float d = v - mean;
        q += d * d;
    }
    const float var = lb_block_sum(q, red) / (float)H;
    const float rstd = 1.0f / sqrtf(var + eps);
    __half *xr = x + (size_t)t * H;
    for (int i = threadIdx.x; i < H; i += blockDim.x) {
        const float v = cached ? row[i]
                               : __half2float(wr[i]) + __half2float(pr[i]) + __half2float(type[i]);
        xr[i] = __float2half_rn((v - mean) * rstd * gamma[i] + beta[i]);
    }
}

static inline int emb_aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

LB_EXTERN_C_BEGIN

/* Errors: cudaErrorInvalidValue for T < 0, n < 0, H <= 0, eps < 0 or NaN, a NULL pointer, or
 * n == 0 with T > 0 (tokens in no sequence). T == 0: nothing to do, cudaSuccess, no launch. */
cudaError_t lb_embed_layernorm(lb_half *x, const int32_t *ids, const int32_t *cu_seqlens, int n,
                               int T, const lb_half *word, const lb_half *pos,
                               const lb_half *type, const float *gamma, const float *beta, int H,
                               float eps, cudaStream_t stream) {
    if (T < 0 || n < 0 || H <= 0 || !(eps >= 0.0f)) return cudaErrorInvalidValue;
    if (T == 0) return cudaSuccess;
    if (n == 0 || !x || !ids || !cu_seqlens || !word || !pos || !type || !gamma || !beta)
        return cudaErrorInvalidValue;
    __half *xd = reinterpret_cast<__half *>(x);
    const __half *wd = reinterpret_cast<const __half *>(word);
    const __half *pd = reinterpret_cast<const __half *>(pos);
    const __half *td = reinterpret_cast<const __half *>(type);
    const int vec = H % EMB_VEC == 0 && H / EMB_VEC <= EMB_MAX_THREADS && emb_aligned16(x) &&
                    emb_aligned16(word) && emb_aligned16(pos) && emb_aligned16(type) &&
                    emb_aligned16(gamma) && emb_aligned16(beta);
    if (vec) {
        const int threads = (H / EMB_VEC + 31) / 32 * 32;
        LB_LAUNCH(emb_vec_kernel, dim3(T), dim3(threads), 0, stream, xd, ids, cu_seqlens, n, wd,
                  pd, td, gamma, beta, H, eps);
    } else {
        int threads = (H + 31) / 32 * 32;
        if (threads > EMB_GENERIC_THREADS) threads = EMB_GENERIC_THREADS;
        const int cached = (size_t)H * sizeof(float) <= EMB_SMEM_LIMIT - EMB_STATIC_SMEM;
        const size_t smem = cached ? (size_t)H * sizeof(float) : 0;
        LB_LAUNCH(emb_generic_kernel, dim3(T), dim3(threads), smem, stream, xd, ids, cu_seqlens,
                  n, wd, pd, td, gamma, beta, H, eps, cached);
    }
    return cudaGetLastError();
}

LB_EXTERN_C_END
