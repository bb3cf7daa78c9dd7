/* gpu_internal.h — structures shared by the GPU backend's host files (gpu_model.c,
 * gpu_gemm.c, gpu_forward.c). Internal; include after gpu_rt.h. */
#ifndef LB_GPU_INTERNAL_H
#define LB_GPU_INTERNAL_H

#include "gpu/gpu.h"
#include "gpu/gpu_rt.h"

/* A linear layer on the device: y = x Wᵀ + b, W [out, in] row-major fp16, b [out] fp16 or NULL.
 * Precision fp8 (the encoder's four big GEMMs only): w is NULL and W is w8 [out, in] E4M3 codes
 * with s8 [out] fp32, one scale per output channel (row of W): W ≈ w8 · s8, quantised at load
 * from the fp32 weights by the row rule of kernels/quant_fp8.cuh. */
typedef struct lb_gpu_linear {
    int in, out;
    const lb_half *w;
    const lb_half *b;
    const uint8_t *w8; /* fp8 only, else NULL */
    const float *s8;   /* fp8 only, else NULL */
} lb_gpu_linear;

typedef struct lb_gpu_layer {
    lb_gpu_linear qkv, attn_out, ffn_up, ffn_down;
    const float *ln1_g, *ln1_b, *ln2_g, *ln2_b;   /* [hidden] fp32 */
    /* fp8: the static bounds of the attention context and of the FFN activation
     * (model/act_bound.h; host values), 448 / big_bound on the host and on the device (the
     * FFN-up GEMM's output scale, lb_gemm_fp8_q's d_inv) */
    float ctx_bound, big_bound, big_inv;
    const float *big_inv_dev;
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
    int fp8;                     /* precision fp8 (lb_gpu_weights_new_prec) */
    int fp8_gemms;               /* fp8: which of the layers' GEMMs hold fp8 weights: LB_FP8_* bits */
};

/* The layers' GEMMs precision fp8 may run in FP8 (LABSE_GPU_FP8_GEMMS, gpu_model.c). */
#define LB_FP8_QKV 1
#define LB_FP8_OUT 2
#define LB_FP8_UP 4
#define LB_FP8_DOWN 8
#define LB_FP8_ALL 15

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
/* The fp8 form of lb_gemm_run: y[T, N] = act(sx ⊗ s8 · (xq · w8ᵀ) + b) (+ y), with xq [T, K]
 * E4M3 codes and sx [T] their row scales (kernels/quant_fp8.cuh), W = lin->w8 [N, K] with
 * lin->s8 [N]; fp32 accumulation; y fp16. Through cuBLASLt's outer-vector scaling (A scale
 * per row of D = per output channel, B scale per column = per token) with bias, GELU and the
 * residual in its epilogue; when cuBLASLt has no algorithm for that (or LABSE_GPU_FP8_SCALE=
 * kernel asked for it, lb_gemm_fp8_mode), an unscaled fp8 GEMM into acc [T, N] fp32 and
 * lb_fp8_dequant applies the scales, residual, bias and GELU. acc: device scratch of T * N
 * floats (needed only then; NULL makes that path an error). Other rules as lb_gemm_run. */
labse_status lb_gemm_fp8(lb_gemm *g, const lb_gpu_linear *lin, const uint8_t *xq, const float *sx,
                         int T, const lb_half *resid, int gelu, lb_half *y, float *acc,
                         cudaStream_t stream, labse_error *err);
/* The fp8 form with E4M3 output and a static scale (the FFN-up GEMM writing the next GEMM's
 * operand): v = act(sx ⊗ s8 · (xq · w8ᵀ) + b) as lb_gemm_fp8 computes it in fp32 (no residual),
 * then y8[t, n] = E4M3_satfinite(v · d_inv[0]) (round to nearest even, beyond ±448 → ±448).
 * y8 [T, N] E4M3 codes (out), d_inv: one fp32 in device memory (448 / the tensor's bound; the
 * consumer's scale is its inverse). Routes as lb_gemm_fp8: cuBLASLt with an E4M3 D and
 * CUBLASLT_MATMUL_DESC_D_SCALE_POINTER = d_inv (its D = scale_D · epilogue(...)), or the unscaled
 * GEMM into acc and lb_fp8_dequant_q (kernels/quant_fp8.cuh); on the emulator the two agree bit
 * for bit. Per-tensor activation scale (lb_gemm_fp8 or this): sx stays a [T] vector (cuBLASLt's
 * B outer vector), holding the one value for every token: lb_fp8_fill_scale (quant_fp8.cuh)
 * fills it, or the caller keeps a filled vector per layer of its largest T. Other rules as
 * lb_gemm_fp8. */
labse_status lb_gemm_fp8_q(lb_gemm *g, const lb_gpu_linear *lin, const uint8_t *xq, const float *sx,
                           int T, int gelu, uint8_t *y8, const float *d_inv, float *acc,
                           cudaStream_t stream, labse_error *err);
/* The fp8 scaling route: set 1 = always the dequantising kernel, 0 = outer-vector scaling when
 * cuBLASLt has it (the default). Read: how many fp8 GEMMs ran through the kernel so far. */
void lb_gemm_fp8_mode(lb_gemm *g, int kernel_scaling);
uint64_t lb_gemm_fp8_fallbacks(const lb_gemm *g);
/* How many heuristic queries g has made (tests: the cache is keyed by bucket, not by T). */
int lb_gemm_queries(const lb_gemm *g);
/* Bytes of g's cuBLASLt workspace: LB_GPU_WORKSPACE, or less (4 MiB, 0) when lb_gemm_new
 * found the device short of memory. Pure. */
size_t lb_gemm_workspace(const lb_gemm *g);

#endif
