/* attention.cuh — launchers of the fused variable-length attention kernel (attention.cu): fp16
 * output (lb_attention) and E4M3 output (lb_attention_fp8). */
#ifndef LB_ATTENTION_CUH
#define LB_ATTENTION_CUH

#include <float.h>

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* For every sequence s (tokens cu_seqlens[s] .. cu_seqlens[s+1]-1) and head h:
 *   ctx[i, h*d : (h+1)*d] = softmax_j(q_i . k_j / sqrt(d)) v_j     (j over the same sequence)
 * with q_i = qkv[i, h*d ...], k_j = qkv[j, H + h*d ...], v_j = qkv[j, 2H + h*d ...], H = heads*d:
 * the fused QKV projection's output, rows [q | k | v]. No mask beyond the sequence bounds (the
 * batch is padding-free). FlashAttention-style: tiles in shared memory, online softmax in fp32,
 * Q K^T and P V on tensor cores (fp16 inputs, fp32 accumulation); no score matrix in global
 * memory.
 *   ctx [T, H] fp16 out;  qkv [T, 3H] fp16;  cu_seqlens [n + 1] int32 device, lengths >= 1;
 *   max_len: the longest sequence (host value, sizes the grid); head_dim: 16, 32, 64 or 128
 *   (cudaErrorInvalidValue otherwise). Device pointers, 16-byte aligned.
 * Enqueued on `stream`; returns the launch's error. Thread-safe. */
cudaError_t lb_attention(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens, int n,
                         int max_len, int heads, int head_dim, cudaStream_t stream);

/* The fp8 form of lb_attention, for the fp8 attention-output GEMM: the same attention, and in
 * place of ctx the E4M3 codes (kernels/attn_out.cuh)
 *   ctx8[i, c] = E4M3_satfinite( float(fp16_rn(o[i, c])) * inv_scale )
 * of exactly the fp16 value lb_attention writes (bit for bit the code the host gets from that
 * value with lb_f32_to_e4m3(half_to_float(ctx[i, c]) * inv_scale), src/base/fp8.h), with one
 * static fp32 factor for the whole call (no per-token scale: no row-wise pass over ctx).
 *   ctx8 [T, H] E4M3 codes out, 16-byte aligned;  inv_scale finite and > 0 (else, whatever n,
 *   cudaErrorInvalidValue);  the other arguments as lb_attention's.
 * Enqueued on `stream`; returns the launch's error. Thread-safe. Unproven on hardware: it
 * passes on the emulator only (kernels/README.md). */
cudaError_t lb_attention_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                             const int32_t *cu_seqlens, int n, int max_len, int heads,
                             int head_dim, cudaStream_t stream);

/* The argument rules of both attention launchers (lb_attention, lb_attention_short) and their
 * fp8 forms (ctx: the fp16 or the E4M3 output): n >= 0, heads 1..65535, head_dim 16, 32, 64 or
 * 128, and when n > 0: non-NULL pointers, ctx and qkv 16-byte aligned, 3 * heads * head_dim <
 * 2^31. Returns 1 to launch, 0 when there is nothing to do (n == 0), -1 for invalid arguments
 * (the launcher returns cudaErrorInvalidValue). */
static inline int lb_attention_args(const void *ctx, const void *qkv, const int32_t *cu_seqlens,
                                    int n, int heads, int head_dim) {
    if (n < 0 || heads < 1 || heads > 65535) return -1;
    if (head_dim != 16 && head_dim != 32 && head_dim != 64 && head_dim != 128) return -1;
    if (n == 0) return 0;
    if (!ctx || !qkv || !cu_seqlens) return -1;
    if ((((uintptr_t)ctx) | ((uintptr_t)qkv)) & 15u) return -1;
    if ((long long)heads * head_dim * 3 > 0x7fffffffLL) return -1;
    return 1;
}

/* The fp8 forms' rule for inv_scale: finite and > 0 (NaN fails both comparisons). */
static inline int lb_attention_inv_scale_ok(float inv_scale) {
    return inv_scale > 0.0f && inv_scale <= FLT_MAX;
}

LB_EXTERN_C_END

#endif
