/* attention.cuh — launcher of the fused variable-length attention kernel (attention.cu). */
#ifndef LB_ATTENTION_CUH
#define LB_ATTENTION_CUH

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

/* The argument rules of both attention launchers (lb_attention, lb_attention_short): n >= 0,
 * heads 1..65535, head_dim 16, 32, 64 or 128, and when n > 0: non-NULL pointers, ctx and qkv
 * 16-byte aligned, 3 * heads * head_dim < 2^31. Returns 1 to launch, 0 when there is nothing to
 * do (n == 0), -1 for invalid arguments (the launcher returns cudaErrorInvalidValue). */
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

LB_EXTERN_C_END

#endif
