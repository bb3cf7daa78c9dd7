/* gpu_attention.c — the per-batch choice between the two attention kernels (gpu_attention.h). */
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

labse_status lb_gpu_attention(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens, int n,
                              int max_len, int heads, int head_dim, cudaStream_t stream,
                              labse_error *err) {
    labse_status st;
    lb_attn_kernel k;
    if ((st = lb_gpu_attn_choose(max_len, &k, err)) != LABSE_OK) return st;
    if (k == LB_ATTN_SHORT)
        LB_CU(lb_attention_short(ctx, qkv, cu_seqlens, n, heads, head_dim, stream));
    else
        LB_CU(lb_attention(ctx, qkv, cu_seqlens, n, max_len, heads, head_dim, stream));
    return LABSE_OK;
fail:
    return st;
}
