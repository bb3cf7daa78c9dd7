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

LB_EXTERN_C_END

#endif
