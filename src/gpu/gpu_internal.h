/* gpu_internal.h — structures shared by the GPU backend's host files (gpu_model.c,
 * gpu_gemm.c, gpu_forward.c). Internal; include after gpu_rt.h. */
#ifndef LB_GPU_INTERNAL_H
#define LB_GPU_INTERNAL_H

#include "gpu/gpu.h"
#include "gpu/gpu_rt.h"

/* A linear layer on the device: y = x Wᵀ + b, W [out, in] row-major fp16, b [out] fp16 or NULL. */
typedef struct lb_gpu_linear {
    int in, out;
    const lb_half *w;
    const lb_half *b;
} lb_gpu_linear;

typedef struct lb_gpu_layer {
    lb_gpu_linear qkv, attn_out, ffn_up, ffn_down;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;   /* [hidden] fp32 */
} lb_gpu_layer;

struct lb_gpu_weights {
    int device;
    void *arena;                 /* one cudaMalloc holding every tensor below */
    size_t bytes;
    const lb_half *word, *pos, *type;   /* [V,H], [P,H], [types,H] */
    const float *emb_g, *emb_b;         /* [H] */
    lb_gpu_layer *layer;         /* [layers] (host array of device pointers) */
    int n_dense;
    lb_gpu_linear *dense;        /* [n_dense] */
    lb_act *dense_act;           /* [n_dense] */
};

/* cuBLASLt GEMMs with a per-shape algorithm cache (gpu_gemm.c). One per context. */
typedef struct lb_gemm lb_gemm;
labse_status lb_gemm_new(int device, lb_gemm **out, labse_error *err);
void lb_gemm_free(lb_gemm *g);
/* y[T, N] = x[T, K] · Wᵀ + b on `stream`, W = lin->w [N, K]; fp16 in/out, fp32 accumulation,
 * bias in the epilogue. All pointers device memory. */
labse_status lb_gemm_linear(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                            lb_half *y, cudaStream_t stream, labse_error *err);

#endif
