/* gpu_gemm.c — the encoder's linear layers through cuBLASLt: y[T, N] = x[T, K] · Wᵀ + b.
 *
 * Row-major activations and PyTorch's row-major W [N, K] map onto cuBLASLt's column-major view
 * without copies:  D (N × T, ld N) = op_T(A: W as K × N, ld K) · op_N(B: x as K × T, ld K),
 * bias[N] added per row of D in the epilogue. fp16 A/B/C/D, CUBLAS_COMPUTE_32F, fp32 scale.
 * The algorithm comes from cuBLASLt's heuristic once per shape (T, N, K, bias) and is cached
 * with its descriptors; a shape whose heuristic fails falls back to a NULL algo (cuBLASLt's own
 * choice). Workspace: 32 MiB per context (what cuBLAS recommends for Hopper).
 * Thread-safety: one lb_gemm per context, used by one thread at a time. */
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_internal.h"

#define CACHE 512
#define WORKSPACE ((size_t)32 << 20)

typedef struct entry {
    int used, T, N, K, bias;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
    int have_algo;
    size_t ws;
} entry;

struct lb_gemm {
    cublasLtHandle_t h;
    cublasLtMatmulPreference_t pref;
    void *ws;
    entry cache[CACHE];
};

static void entry_clear(entry *e) {
    if (e->desc) cublasLtMatmulDescDestroy(e->desc);
    if (e->a) cublasLtMatrixLayoutDestroy(e->a);
    if (e->b) cublasLtMatrixLayoutDestroy(e->b);
    if (e->d) cublasLtMatrixLayoutDestroy(e->d);
    memset(e, 0, sizeof *e);
}

labse_status lb_gemm_new(int device, lb_gemm **out, labse_error *err) {
    labse_status st = LABSE_OK;
    lb_gemm *g = calloc(1, sizeof *g);
    if (!g) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    LB_CU(cudaSetDevice(device));
    LB_BL(cublasLtCreate(&g->h));
    LB_CU(cudaMalloc(&g->ws, WORKSPACE));
    LB_BL(cublasLtMatmulPreferenceCreate(&g->pref));
    {
        size_t wsb = WORKSPACE;
        LB_BL(cublasLtMatmulPreferenceSetAttribute(g->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                   &wsb, sizeof wsb));
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
    if (g->pref) cublasLtMatmulPreferenceDestroy(g->pref);
    if (g->ws) cudaFree(g->ws);
    if (g->h) cublasLtDestroy(g->h);
    free(g);
}

/* The cache slot of a shape: found, or made (descriptors + heuristic), evicting on collision. */
static labse_status lookup(lb_gemm *g, int T, int N, int K, int bias, entry **out,
                           labse_error *err) {
    labse_status st = LABSE_OK;
    uint32_t hsh = (uint32_t)T * 2654435761u ^ (uint32_t)N * 40503u ^ (uint32_t)K * 97u ^ (uint32_t)bias;
    entry *e = NULL;
    for (int probe = 0; probe < 8; probe++) {
        entry *c = &g->cache[(hsh + (uint32_t)probe) % CACHE];
        if (c->used && c->T == T && c->N == N && c->K == K && c->bias == bias) {
            *out = c;
            return LABSE_OK;
        }
        if (!e && !c->used) e = c;
    }
    if (!e) { /* all probed slots busy: evict the home slot */
        e = &g->cache[hsh % CACHE];
        entry_clear(e);
    }
    e->T = T, e->N = N, e->K = K, e->bias = bias;
    e->used = 1;
    {
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
        LB_BL(cublasLtMatmulDescCreate(&e->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        LB_BL(cublasLtMatrixLayoutCreate(&e->a, CUDA_R_16F, (uint64_t)K, (uint64_t)N, (int64_t)K));
        LB_BL(cublasLtMatrixLayoutCreate(&e->b, CUDA_R_16F, (uint64_t)K, (uint64_t)T, (int64_t)K));
        LB_BL(cublasLtMatrixLayoutCreate(&e->d, CUDA_R_16F, (uint64_t)N, (uint64_t)T, (int64_t)N));
        cublasLtMatmulHeuristicResult_t r;
        int got = 0;
        memset(&r, 0, sizeof r);
        if (cublasLtMatmulAlgoGetHeuristic(g->h, e->desc, e->a, e->b, e->d, e->d, g->pref, 1, &r,
                                           &got) == CUBLAS_STATUS_SUCCESS &&
            got > 0 && r.state == CUBLAS_STATUS_SUCCESS) {
            e->algo = r.algo;
            e->ws = r.workspaceSize;
            e->have_algo = 1;
        }
    }
    *out = e;
    return LABSE_OK;
fail:
    entry_clear(e);
    return st;
}

labse_status lb_gemm_linear(lb_gemm *g, const lb_gpu_linear *lin, const lb_half *x, int T,
                            lb_half *y, cudaStream_t stream, labse_error *err) {
    labse_status st = LABSE_OK;
    if (T <= 0) return LABSE_OK;
    if (((uintptr_t)x | (uintptr_t)y | (uintptr_t)lin->w | (uintptr_t)lin->b) % 16)
        return lb_err(err, LABSE_E_CUDA, "GEMM operands must be 16-byte aligned (internal error)");
    entry *e = NULL;
    if ((st = lookup(g, T, lin->out, lin->in, lin->b != NULL, &e, err)) != LABSE_OK) return st;
    if (lin->b) {
        const void *bp = lin->b;
        LB_BL(cublasLtMatmulDescSetAttribute(e->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof bp));
    }
    {
        const float alpha = 1.0f, beta = 0.0f;
        LB_BL(cublasLtMatmul(g->h, e->desc, &alpha, lin->w, e->a, x, e->b, &beta, y, e->d, y, e->d,
                             e->have_algo ? &e->algo : NULL, g->ws, WORKSPACE,
                             stream));
    }
    return LABSE_OK;
fail:
    return st;
}
