/* gpu_attention.c — the per-batch choice between the two attention kernels, for the fp16 and
 * the fp8 (E4M3) context (gpu_attention.h). */
#include "gpu/gpu_attention.h"

#include <stdlib.h>
#include <string.h>

#include "attention.cuh"
#include "attention_short.cuh"

labse_status lb_gpu_attn_choose(int max_len, lb_attn_kernel *out, labse_error *err) {
    const char *v = getenv("LABSE_GPU_ATTN");
    if (!v || !*v || !strcmp(v, "auto"))
        *out = max_len <= LB_ATTN_SHORT_MAX_LEN ? LB_ATTN_SHORT : LB_ATTN_TILED;
    else if (!strcmp(v, "tiled"))
        *out = LB_ATTN_TILED;
    else if (!strcmp(v, "short"))
        *out = LB_ATTN_SHORT;
    else
        return lb_err(err, LABSE_E_INVALID, "LABSE_GPU_ATTN=%s: expected auto, tiled or short", v);
    return LABSE_OK;
}

/* Both forms: fp8 0 -> fp16 into ctx, 1 -> E4M3 codes into ctx8 (the other one unused). */
static labse_status attention(int fp8, lb_half *ctx, uint8_t *ctx8, float inv_scale,
                              const lb_half *qkv, const int32_t *cu_seqlens, int n, int max_len,
                              int heads, int head_dim, cudaStream_t stream, labse_error *err) {
    labse_status st;
    lb_attn_kernel k;
    if ((st = lb_gpu_attn_choose(max_len, &k, err)) != LABSE_OK) return st;
    if (k == LB_ATTN_SHORT && fp8)
        LB_CU(lb_attention_short_fp8(ctx8, inv_scale, qkv, cu_seqlens, n, heads, head_dim, stream));
    else if (k == LB_ATTN_SHORT)
        LB_CU(lb_attention_short(ctx, qkv, cu_seqlens, n, heads, head_dim, stream));
    else if (fp8)
        LB_CU(lb_attention_fp8(ctx8, inv_scale, qkv, cu_seqlens, n, max_len, heads, head_dim,
                               stream));
    else
        LB_CU(lb_attention(ctx, qkv, cu_seqlens, n, max_len, heads, head_dim, stream));
    return LABSE_OK;
fail:
    return st;
}

labse_status lb_gpu_attention(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens, int n,
                              int max_len, int heads, int head_dim, cudaStream_t stream,
                              labse_error *err) {
    return attention(0, ctx, NULL, 0.0f, qkv, cu_seqlens, n, max_len, heads, head_dim, stream, err);
}

labse_status lb_gpu_attention_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                                  const int32_t *cu_seqlens, int n, int max_len, int heads,
                                  int head_dim, cudaStream_t stream, labse_error *err) {
    return attention(1, NULL, ctx8, inv_scale, qkv, cu_seqlens, n, max_len, heads, head_dim, stream,
                     err);
}
