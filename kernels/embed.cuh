/* embed.cuh — launcher of the embedding kernel (embed.cu). */
#ifndef LB_EMBED_CUH
#define LB_EMBED_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* x[t, :] = LayerNorm(word[ids[t], :] + pos[t - cu_seqlens[s], :] + type[0, :]) * gamma + beta
 * for every token t of the packed batch, s being the sequence that holds t (positions restart
 * at 0 for every sequence; token types are all 0). Sum and statistics in fp32, output fp16.
 *   x      [T, H] fp16 out          ids [T] int32, each in 0..V-1 (checked by the host)
 *   cu_seqlens [n + 1] int32, cu_seqlens[0] = 0, cu_seqlens[n] = T, lengths <= P
 *   word [V, H], pos [P, H], type [>= 1, H] fp16;  gamma, beta [H] fp32
 * All pointers are device memory; any H >= 1. Enqueued on `stream`; returns the launch's
 * error (cudaGetLastError). Thread-safe (no state). */
cudaError_t lb_embed_layernorm(lb_half *x, const int32_t *ids, const int32_t *cu_seqlens, int n,
                               int T, const lb_half *word, const lb_half *pos,
                               const lb_half *type, const float *gamma, const float *beta, int H,
                               float eps, cudaStream_t stream);

LB_EXTERN_C_END

#endif
