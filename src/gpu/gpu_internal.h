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

/* The bucket of a token (or row) count T: T rounded up to a multiple of max(64, P/8), P the
 * largest power of two <= T (8 buckets an octave, at most 12.5% padding; 64 for T <= 64).
 * Keys the GEMM algorithm cache and the CUDA Graphs. Pure. */
int lb_gpu_bucket(int T);

/* cuBLASLt GEMMs with an algorithm cache keyed by (bucket of T, shape, epilogue, residual,
 * buffer alignments) (gpu_gemm.c). One per context, used by one thread at a time. */
typedef struct lb_gemm lb_gemm;
/* A handle and its workspace on `device` (caller owns *out; lb_gemm_free). Out of device memory
 * for the workspace is not an error: a smaller one or none is used (lb_gemm_workspace). */
labse_status lb_gemm_new(int device, lb_gemm **out, labse_error *err);
void lb_gemm_free(lb_gemm *g);
/* y[T, N] = act(x[T, K] · Wᵀ + b) (+ y) on `stream`, W = lin->w [N, K]; fp16 in/out, fp32
 * accumulation, bias (16-byte aligned) and act in the epilogue. gelu: act is cuBLASLt's GELU
 * (the tanh form), else identity. resid: NULL, or y itself to add y's old value (the residual,
 * beta = 1, in place; any other pointer is refused). All pointers device memory, any
 * alignment (the algorithm is chosen for the pointers' own). */
labse_status lb_gemm_run(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                         const lb_half *resid, int gelu, lb_half *y, cudaStream_t stream,
                         labse_error *err);
/* lb_gemm_run without residual or activation: y = x Wᵀ + b. */
labse_status lb_gemm_linear(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                            lb_half *y, cudaStream_t stream, labse_error *err);
/* How many heuristic queries g has made (tests: the cache is keyed by bucket, not by T). */
int lb_gemm_queries(const lb_gemm *g);
/* Bytes of g's cuBLASLt workspace: LB_GPU_WORKSPACE, or less (4 MiB, 0) when lb_gemm_new
 * found the device short of memory. Pure. */
size_t lb_gemm_workspace(const lb_gemm *g);

#endif
