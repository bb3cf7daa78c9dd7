/* gpu_gemm.c — the encoder's linear layers through cuBLASLt:
 *     y[T, N] = act(x[T, K] · Wᵀ + b) (+ r[T, N])
 *
 * Row-major activations and PyTorch's row-major W [N, K] map onto cuBLASLt's column-major view
 * without copies:  D (N × T, ld N) = op_T(A: W as K × N, ld K) · op_N(B: x as K × T, ld K)
 * + beta · C, bias[N] added per row of D in the epilogue, then GELU when asked (epilogue
 * GELU_BIAS). The residual r is C with beta = 1; it must be y itself (C == D, in place, which
 * cuBLASLt supports when C and D have one layout). fp16 A/B/C/D, CUBLAS_COMPUTE_32F, fp32 scale.
 *
 * Algorithms: one heuristic query per (bucket of T, N, K, epilogue, residual, alignment of each
 * buffer); T changes with nearly every batch, so the cache key is lb_gpu_bucket(T) (the same
 * buckets the CUDA Graphs use) and the query is made for the bucket's largest T; a call sets
 * the cached layouts' column count to its own T. Alignment: cuBLASLt's heuristic assumes
 * 256-byte aligned buffers unless told otherwise (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*), so the
 * query is told each pointer's real alignment (lb_lt_align) and the alignments are part of the
 * key. A shape whose heuristic fails falls back to a NULL algo (cuBLASLt's own choice, made per
 * call from the real pointers). Workspace: 32 MiB per context (what cuBLAS recommends for
 * Hopper); when the device cannot give that much, 4 MiB, then none (cuBLASLt has algorithms
 * that need no workspace; the heuristic is told the size, so it picks only those that fit):
 * lb_gemm_workspace says which, and the run's summary reports a reduced one.
 * FP8 (lb_gemm_fp8): A = the E4M3 weights, B = the E4M3 activations (TN, as Hopper's FP8 GEMMs
 * require, and as the fp16 layout already is), D fp16; the scales through
 * CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F (A: per row of D = output channel, B: per column =
 * token), set per call like the bias pointer. Its entries are keyed by the route too. Where the
 * heuristic finds no algorithm for outer-vector scaling with this epilogue, the call (and every
 * later one of that shape: have_algo 0 is cached) takes the kernel route: a plain fp8 GEMM
 * into fp32 and lb_fp8_dequant (kernels/quant_fp8.cuh).
 * FP8 output (lb_gemm_fp8_q): D CUDA_R_8F_E4M3 with CUBLASLT_MATMUL_DESC_D_SCALE_POINTER = the
 * static inverse scale. Sources: CUDA 13's cublasLt.h (read) calls it the scale "to convert data
 * in matrix D", one compute-type (fp32) value in device memory, NULL = 1, and refers the details
 * (the FP8 formula, the type table) to the cuBLAS documentation's cublasLtMatmul section, which
 * the search corpus used here does not hold. As recalled from that section (not re-read):
 * D = scale_D · Epilogue(alpha · scale_A · scale_B · op(A) op(B) + beta · scale_C · C), the amax
 * taken before scale_D, so the scale multiplies after bias and GELU (as lb_fp8_dequant_q does),
 * and an E4M3 D pairs with a C of fp16 (or bf16) and a bias of C's type. NVIDIA's LtFp8Matmul
 * sample (read) pairs its E4M3 D with a bf16 C. On a GPU, test_fp8's fp8-output case checks the
 * formula against cuBLASLt. So C has an fp16 layout of its own (e->c) and is never read (beta 0;
 * D's pointer is passed), and the bias type is set to fp16 explicitly. No residual with fp8 D.
 * Per-tensor activation scales stay an outer vector filled with one value: cublasLt.h documents
 * OUTER_VEC_32F for A and B and says nothing of mixing it with SCALAR_32F, so A outer / B scalar
 * is not relied on (the emulator refuses mixed modes).
 * Thread-safety: one lb_gemm per context, used by one thread at a time. */
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_internal.h"
#include "quant_fp8.cuh"

#define CACHE 512
#define WORKSPACE LB_GPU_WORKSPACE
#define BUCKET_MIN 64
#define BUCKETS_PER_OCTAVE 8
#define FP8_OUTER 1
#define FP8_PLAIN 2
#define FP8_OUTER_Q 3 /* outer-vector scales, E4M3 D with D_SCALE_POINTER, fp16 C (not read) */

typedef struct entry {
    int used, Tb, N, K, epi, resid; /* key: bucket, shape, epilogue, residual (beta 1) */
    int fp8;                        /* key: 0 fp16; FP8_OUTER; FP8_PLAIN (fp32 D, no scales); FP8_OUTER_Q */
    uint32_t al[4];                 /* key: alignment of W, x, C, y in bytes */
    int T;                          /* the column count the layouts hold now */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatrixLayout_t c; /* C's own layout where its type is not D's (FP8_OUTER_Q), else NULL */
    cublasLtMatmulAlgo_t algo;
    int have_algo;
} entry;

struct lb_gemm {
    cublasLtHandle_t h;
    void *ws;
    size_t ws_bytes; /* the workspace's size: WORKSPACE, or less when that did not fit */
    int queries; /* heuristic queries made (lb_gemm_queries) */
    int fp8_kernel;         /* lb_gemm_fp8_mode: always the dequantising kernel */
    uint64_t fp8_fallbacks; /* fp8 GEMMs that took the kernel route */
    entry cache[CACHE];
};

int lb_gpu_bucket(int T) {
    if (T <= BUCKET_MIN) return BUCKET_MIN;
    int p = BUCKET_MIN;
    while (p <= T / 2) p *= 2; /* p = the largest power of two <= T (T > 64) */
    const int q = p / BUCKETS_PER_OCTAVE > BUCKET_MIN ? p / BUCKETS_PER_OCTAVE : BUCKET_MIN;
    return (T + q - 1) / q * q;
}

int lb_lt_pick(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
               cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
               size_t workspace, const uint32_t align[4], cublasLtMatmulAlgo_t *algo) {
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t r;
    int got = 0, ok = 0;
    memset(&r, 0, sizeof r);
    if (cublasLtMatmulPreferenceCreate(&pref) != CUBLAS_STATUS_SUCCESS) return 0;
    ok = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                              &workspace, sizeof workspace) == CUBLAS_STATUS_SUCCESS;
    for (int i = 0; i < 4 && ok; i++)
        ok = cublasLtMatmulPreferenceSetAttribute(
                 pref, (cublasLtMatmulPreferenceAttributes_t)(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES + i),
                 &align[i], sizeof align[i]) == CUBLAS_STATUS_SUCCESS;
    ok = ok && cublasLtMatmulAlgoGetHeuristic(h, desc, a, b, c, d, pref, 1, &r, &got) ==
                   CUBLAS_STATUS_SUCCESS &&
         got > 0 && r.state == CUBLAS_STATUS_SUCCESS && r.workspaceSize <= workspace;
    if (ok) *algo = r.algo;
    cublasLtMatmulPreferenceDestroy(pref);
    return ok;
}

static void entry_clear(entry *e) {
    if (e->desc) cublasLtMatmulDescDestroy(e->desc);
    if (e->a) cublasLtMatrixLayoutDestroy(e->a);
    if (e->b) cublasLtMatrixLayoutDestroy(e->b);
    if (e->d) cublasLtMatrixLayoutDestroy(e->d);
    if (e->c) cublasLtMatrixLayoutDestroy(e->c);
    memset(e, 0, sizeof *e);
}

labse_status lb_gemm_new(int device, lb_gemm **out, labse_error *err) {
    labse_status st = LABSE_OK;
    lb_gemm *g = calloc(1, sizeof *g);
    if (!g) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    LB_CU(cudaSetDevice(device));
    LB_BL(cublasLtCreate(&g->h));
    {
        /* out of device memory: a smaller workspace, then none (never an error) */
        static const size_t sizes[] = {WORKSPACE, (size_t)4 << 20, 0};
        cudaError_t e = cudaSuccess;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            g->ws_bytes = sizes[i];
            if (!sizes[i]) break;
            if ((e = cudaMalloc(&g->ws, sizes[i])) == cudaSuccess) break;
            g->ws = NULL;
            if (e != cudaErrorMemoryAllocation) {
                st = lb_cuda_fail(err, e, "cudaMalloc(workspace)", __FILE__, __LINE__);
                goto fail;
            }
            cudaGetLastError(); /* clear the failed allocation's error */
        }
    }
    *out = g;
    return LABSE_OK;
fail:
    lb_gemm_free(g);
    return st;
}

void lb_gemm_free(lb_gemm *g) {
    if (!g) return;
    for (int i = 0; i < CACHE; i++)
        if (g->cache[i].used) entry_clear(&g->cache[i]);
    if (g->ws) cudaFree(g->ws);
    if (g->h) cublasLtDestroy(g->h);
    free(g);
}

int lb_gemm_queries(const lb_gemm *g) { return g->queries; }

size_t lb_gemm_workspace(const lb_gemm *g) { return g->ws_bytes; }

/* Set a cached layout's column count (the batch's T). */
static cublasStatus_t set_cols(cublasLtMatrixLayout_t l, int T) {
    const uint64_t cols = (uint64_t)T;
    return cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_COLS, &cols, sizeof cols);
}

/* The cache slot of a key: found, or made (descriptors + heuristic at the bucket's T),
 * evicting on collision. */
static labse_status lookup(lb_gemm *g, const entry *key, entry **out, labse_error *err) {
    labse_status st = LABSE_OK;
    uint32_t hsh = (uint32_t)key->Tb * 2654435761u ^ (uint32_t)key->N * 40503u ^
                   (uint32_t)key->K * 97u ^ (uint32_t)key->epi * 7u ^ (uint32_t)key->resid ^
                   (key->al[0] ^ key->al[1] * 3u ^ key->al[2] * 5u ^ key->al[3] * 11u) * 131u ^
                   (uint32_t)key->fp8 * 0x9e37u;
    entry *e = NULL;
    for (int probe = 0; probe < 8; probe++) {
        entry *c = &g->cache[(hsh + (uint32_t)probe) % CACHE];
        if (c->used && c->Tb == key->Tb && c->N == key->N && c->K == key->K &&
            c->epi == key->epi && c->resid == key->resid && c->fp8 == key->fp8 &&
            !memcmp(c->al, key->al, sizeof c->al)) {
            *out = c;
            return LABSE_OK;
        }
        if (!e && !c->used) e = c;
    }
    if (!e) { /* all probed slots busy: evict the home slot */
        e = &g->cache[hsh % CACHE];
        entry_clear(e);
    }
    *e = *key;
    e->used = 1;
    e->T = key->Tb;
    {
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        const cublasLtEpilogue_t epi = (cublasLtEpilogue_t)key->epi;
        const int N = key->N, K = key->K, Tb = key->Tb;
        LB_BL(cublasLtMatmulDescCreate(&e->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        const cudaDataType_t ab = key->fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16F;
        const cudaDataType_t cd = key->fp8 == FP8_PLAIN     ? CUDA_R_32F
                                  : key->fp8 == FP8_OUTER_Q ? CUDA_R_8F_E4M3
                                                            : CUDA_R_16F;
        if (key->fp8 == FP8_OUTER || key->fp8 == FP8_OUTER_Q) {
            const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
            LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode));
            LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode));
        }
        LB_BL(cublasLtMatrixLayoutCreate(&e->a, ab, (uint64_t)K, (uint64_t)N, (int64_t)K));
        LB_BL(cublasLtMatrixLayoutCreate(&e->b, ab, (uint64_t)K, (uint64_t)Tb, (int64_t)K));
        LB_BL(cublasLtMatrixLayoutCreate(&e->d, cd, (uint64_t)N, (uint64_t)Tb, (int64_t)N));
        if (key->fp8 == FP8_OUTER_Q) {
            /* An E4M3 D: C fp16 and a bias of C's type (the head comment); cublasLt.h: the
             * default bias type is D's "with exceptions" for fp8 outputs, so it is set. */
            const int32_t bt = CUDA_R_16F;
            LB_BL(cublasLtMatrixLayoutCreate(&e->c, CUDA_R_16F, (uint64_t)N, (uint64_t)Tb, (int64_t)N));
            LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt));
        }
        g->queries++;
        e->have_algo = lb_lt_pick(g->h, e->desc, e->a, e->b, e->c ? e->c : e->d, e->d, g->ws_bytes,
                                  e->al, &e->algo);
    }
    *out = e;
    return LABSE_OK;
fail:
    entry_clear(e);
    return st;
}

labse_status lb_gemm_run(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                         const lb_half *resid, int gelu, lb_half *y, cudaStream_t stream,
                         labse_error *err) {
    labse_status st = LABSE_OK;
    if (T <= 0) return LABSE_OK;
    if (lin->b && (uintptr_t)lin->b % 16)
        return lb_err(err, LABSE_E_CUDA, "GEMM bias must be 16-byte aligned (internal error)");
    if (resid && resid != y)
        return lb_err(err, LABSE_E_CUDA, "GEMM: the residual must be the output (internal error)");
    entry key, *e = NULL;
    memset(&key, 0, sizeof key);
    key.Tb = lb_gpu_bucket(T);
    key.N = lin->out;
    key.K = lin->in;
    key.epi = lin->b ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                     : (gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
    key.resid = resid != NULL;
    key.al[0] = lb_lt_align(lin->w);
    key.al[1] = lb_lt_align(x);
    key.al[2] = lb_lt_align(y);
    key.al[3] = lb_lt_align(y);
    if ((st = lookup(g, &key, &e, err)) != LABSE_OK) return st;
    if (e->T != T) {
        LB_BL(set_cols(e->b, T));
        LB_BL(set_cols(e->d, T));
        e->T = T;
    }
    if (lin->b) {
        const void *bp = lin->b;
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
    }
    {
        const float alpha = 1.0f, beta = resid ? 1.0f : 0.0f;
        LB_BL(cublasLtMatmul(g->h, e->desc, &alpha, lin->w, e->a, x, e->b, &beta, y, e->d, y, e->d,
                             e->have_algo ? &e->algo : NULL, g->ws, g->ws_bytes, stream));
    }
    return LABSE_OK;
fail:
    return st;
}

labse_status lb_gemm_linear(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                            lb_half *y, cudaStream_t stream, labse_error *err) {
    return lb_gemm_run(g, lin, x, T, NULL, 0, y, stream, err);
}

void lb_gemm_fp8_mode(lb_gemm *g, int kernel_scaling) { g->fp8_kernel = kernel_scaling != 0; }

uint64_t lb_gemm_fp8_fallbacks(const lb_gemm *g) { return g->fp8_fallbacks; }

/* The cached entry of an fp8 GEMM (route fp8) with its columns set to T. */
static labse_status fp8_entry(lb_gemm *g, const lb_gpu_linear *lin, const void *x, const void *y,
                              int T, int epi, int resid, int fp8, entry **out, labse_error *err) {
    labse_status st = LABSE_OK;
    entry key;
    memset(&key, 0, sizeof key);
    key.Tb = lb_gpu_bucket(T);
    key.N = lin->out;
    key.K = lin->in;
    key.epi = epi;
    key.resid = resid;
    key.fp8 = fp8;
    key.al[0] = lb_lt_align(lin->w8);
    key.al[1] = lb_lt_align(x);
    key.al[2] = lb_lt_align(y);
    key.al[3] = lb_lt_align(y);
    if ((st = lookup(g, &key, out, err)) != LABSE_OK) return st;
    if ((*out)->T != T) {
        LB_BL(set_cols((*out)->b, T));
        LB_BL(set_cols((*out)->d, T));
        if ((*out)->c) LB_BL(set_cols((*out)->c, T));
        (*out)->T = T;
    }
    return LABSE_OK;
fail:
    return st;
}

/* The output of an fp8 GEMM: fp16 y (with the residual when resid), or E4M3 codes y8 of the
 * value times *d_inv (device fp32). */
typedef struct fp8_out {
    lb_half *y;
    const lb_half *resid;
    uint8_t *y8;
    const float *d_inv;
} fp8_out;

/* lb_gemm_fp8 and lb_gemm_fp8_q: one body, the output described by o. */
static labse_status fp8_gemm(lb_gemm *g, const lb_gpu_linear *lin, const uint8_t *xq, const float *sx,
                             int T, int gelu, const fp8_out *o, float *acc, cudaStream_t stream,
                             labse_error *err) {
    labse_status st = LABSE_OK;
    entry *e = NULL;
    void *const y = o->y8 ? (void *)o->y8 : (void *)o->y;
    if (T <= 0) return LABSE_OK;
    if (!lin->w8 || !lin->s8)
        return lb_err(err, LABSE_E_CUDA, "fp8 GEMM without fp8 weights (internal error)");
    if (lin->b && (uintptr_t)lin->b % 16)
        return lb_err(err, LABSE_E_CUDA, "GEMM bias must be 16-byte aligned (internal error)");
    if (o->resid && o->resid != o->y)
        return lb_err(err, LABSE_E_CUDA, "GEMM: the residual must be the output (internal error)");
    if (o->y8 && !o->d_inv)
        return lb_err(err, LABSE_E_CUDA, "fp8-output GEMM without its scale (internal error)");
    if (!g->fp8_kernel) {
        const int epi = lin->b ? (gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
                               : (gelu ? CUBLASLT_EPILOGUE_GELU : CUBLASLT_EPILOGUE_DEFAULT);
        if ((st = fp8_entry(g, lin, xq, y, T, epi, o->resid != NULL, o->y8 ? FP8_OUTER_Q : FP8_OUTER, &e,
                            err)) != LABSE_OK)
            return st;
        if (e->have_algo) {
            const void *bp = lin->b, *sa = lin->s8, *sb = sx, *sd = o->d_inv;
            if (lin->b)
                LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
            LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof sa));
            LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sb, sizeof sb));
            if (o->y8)
                LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &sd, sizeof sd));
            const float alpha = 1.0f, beta = o->resid ? 1.0f : 0.0f;
            LB_BL(cublasLtMatmul(g->h, e->desc, &alpha, lin->w8, e->a, xq, e->b, &beta, y, e->c ? e->c : e->d, y,
                                 e->d, &e->algo, g->ws, g->ws_bytes, stream));
            return LABSE_OK;
        }
    }
    /* the kernel route: acc = xq · w8ᵀ (scale 1, fp32), then scales, residual, bias, GELU */
    if (!acc) return lb_err(err, LABSE_E_CUDA, "fp8 GEMM: no fp32 scratch for the kernel route (internal error)");
    if ((st = fp8_entry(g, lin, xq, acc, T, CUBLASLT_EPILOGUE_DEFAULT, 0, FP8_PLAIN, &e, err)) != LABSE_OK)
        return st;
    {
        const float alpha = 1.0f, beta = 0.0f;
        LB_BL(cublasLtMatmul(g->h, e->desc, &alpha, lin->w8, e->a, xq, e->b, &beta, acc, e->d, acc, e->d,
                             e->have_algo ? &e->algo : NULL, g->ws, g->ws_bytes, stream));
    }
    if (o->y8) LB_CU(lb_fp8_dequant_q(acc, T, lin->out, lin->s8, sx, lin->b, gelu, o->d_inv, o->y8, stream));
    else LB_CU(lb_fp8_dequant(acc, T, lin->out, lin->s8, sx, lin->b, gelu, o->resid != NULL, o->y, stream));
    g->fp8_fallbacks++;
    return LABSE_OK;
fail:
    return st;
}

labse_status lb_gemm_fp8(lb_gemm *g, const lb_gpu_linear *lin, const uint8_t *xq, const float *sx,
                         int T, const lb_half *resid, int gelu, lb_half *y, float *acc,
                         cudaStream_t stream, labse_error *err) {
    const fp8_out o = {.y = y, .resid = resid, .y8 = NULL, .d_inv = NULL};
    return fp8_gemm(g, lin, xq, sx, T, gelu, &o, acc, stream, err);
}

labse_status lb_gemm_fp8_q(lb_gemm *g, const lb_gpu_linear *lin, const uint8_t *xq, const float *sx,
                           int T, int gelu, uint8_t *y8, const float *d_inv, float *acc,
                           cudaStream_t stream, labse_error *err) {
    if (!y8) return lb_err(err, LABSE_E_CUDA, "fp8-output GEMM without an output (internal error)");
    const fp8_out o = {.y = NULL, .resid = NULL, .y8 = y8, .d_inv = d_inv};
    return fp8_gemm(g, lin, xq, sx, T, gelu, &o, acc, stream, err);
}
