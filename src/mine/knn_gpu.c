/* knn_gpu.c — the GPU backend of the exact k-NN (lb_knn_backend, src/mine/knn.h): cuBLASLt fp32
 * similarity tiles and the exact top-k kernel (kernels/topk.cu). Built only with a GPU
 * backend (LABSE_HAVE_GPU: real CUDA or the emulator).
 *
 * Same problem, same tables as the CPU backend (knn.c): the rows are normalised on the host by
 * lb_emb_fetch_normalized (the CPU backend's own function, so both backends multiply the very
 * same float32 vectors), every cosine is one fp32 dot product (CUBLAS_COMPUTE_32F, fp32 A/B/D;
 * no TF32, no fp16), and the top-k keeps the exact (cosine desc, index asc) order. The only
 * difference from the CPU is the summation order inside a dot product (cuBLAS vs OpenBLAS
 * kernels): cosines agree to ~1e-7 (each is within ~sqrt(d) * 2^-24 * |partial sums| of the
 * exact value), so the tables are the same except where two neighbours are closer than that.
 *
 * Blocking (B = p->block_rows): source blocks of bs = min(B, ns) rows, target tiles of
 * bt = min(B, nt) rows. Per source block: the block is normalised into pinned host memory and
 * copied to the device, its forward table (bs x k) is set empty on the device; then per target
 * tile: normalise into one of two pinned staging buffers, copy (copy stream) into one of two
 * device tile buffers, and on the compute stream one GEMM  S [nb x nbt] = A_block · T_tileᵀ
 * (fp32, row-major S: source row i, target column j) and two lb_topk_update calls: backward
 * (each target column j of S into the device backward table row t0 + j) and forward (each
 * source row i of S into the block's forward table row i). The host normalises tile t+1 while
 * the GPU works on tile t (events guard the staging and the device buffers). After the block
 * its forward rows come back to fwd; after the last block the backward table comes back to bwd.
 *
 * Device memory:  bs x d + 2 x bt x d (tiles) + bs x bt (S) floats + the forward table of a
 * block (bs x k x 8 bytes) + top-k workspace (<= 2048-way chunks x k x B x 8 bytes, small)
 * + the backward table of all targets (nt x k x 8 bytes: the "+ tables" memory the CPU side has
 * too; resident so that it is never re-read) + 32 MiB cuBLASLt workspace. For B = 2048,
 * d = 768: ~60 MiB + nt x k x 8 bytes. Larger B makes the GEMMs larger and lowers the host
 * work per pair (the targets are normalised once per source block): B = 8192 → ~330 MiB.
 *
 * Resident targets (speed, bounded): when all the normalised targets fit in
 * LABSE_KNN_GPU_CACHE_MB MiB of device memory (environment; default 4096, 0 disables), the
 * first source block uploads every tile into one device array and later blocks reuse it —
 * no host work or copies after the first block. Device memory stays bounded by that cap, not
 * by the corpus; above the cap the tiles stream as described.
 *
 * Limits: k <= LB_TOPK_MAX_K (64), else LABSE_E_UNSUPPORTED (use the CPU backend);
 * B above 16384 is used as 16384 (the tables do not depend on B).
 *
 * Thread-safety: run() is reentrant (all state is local to the call); it sets the calling
 * thread's current device. It uses OpenMP threads (p->threads, 0 = all cores) to normalise. */
#include <inttypes.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "gpu/gpu_rt.h"
#include "mine/knn.h"
#include "topk.cuh"

#define KNN_WORKSPACE ((size_t)32 << 20)
#define KNN_MIN_CHUNK_ROWS 32     /* top-k chunks: at least this many candidate rows a thread */
#define KNN_TARGET_THREADS 65536  /* top-k threads per update wanted to fill the GPU */
#define KNN_CACHE_MB_DEFAULT 4096
#define KNN_MAX_BLOCK ((size_t)16384) /* block rows used at most (S = 16384^2 x 4 B = 1 GiB) */

/* One GEMM shape (nb source rows, nbt target rows): at most 4 per run (full/ragged). */
typedef struct knn_shape {
    int nb, nbt, used, have_algo;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
} knn_shape;

typedef struct knn_state {
    cudaStream_t comp, copy;
    cudaEvent_t up_done[2], used_done[2];
    int up_rec[2], used_rec[2];
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    uint32_t align[4];                /* alignment every tile / block / S pointer honours */
    knn_shape shape[4];
    void *ws;                         /* cuBLASLt workspace */
    float *dA, *dB[2], *dS, *dT;      /* source block, tile buffers, S, resident targets */
    float *dFs, *dBs, *wss;           /* forward (block) / backward (all) sims, top-k ws */
    uint32_t *dFi, *dBi, *wsi;
    float *hA, *hB[2];                /* pinned staging */
} knn_state;

/* The number of row chunks of a top-k update over `rows` candidates and `cols` columns. */
static int knn_chunks(int rows, int cols) {
    int want = (KNN_TARGET_THREADS + cols - 1) / cols;
    int most = rows / KNN_MIN_CHUNK_ROWS;
    int n = want < most ? want : most;
    if (n > 2048) n = 2048;
    return n < 1 ? 1 : n;
}

static void knn_state_free(knn_state *s) {
    /* Errors while tearing down are ignored (the run's status is already decided). */
    if (s->comp) cudaStreamSynchronize(s->comp);
    if (s->copy) cudaStreamSynchronize(s->copy);
    for (int i = 0; i < 4; i++) {
        if (s->shape[i].a) cublasLtMatrixLayoutDestroy(s->shape[i].a);
        if (s->shape[i].b) cublasLtMatrixLayoutDestroy(s->shape[i].b);
        if (s->shape[i].d) cublasLtMatrixLayoutDestroy(s->shape[i].d);
    }
    if (s->desc) cublasLtMatmulDescDestroy(s->desc);
    if (s->lt) cublasLtDestroy(s->lt);
    void *dev[] = {s->ws, s->dA, s->dB[0], s->dB[1], s->dS, s->dT, s->dFs, s->dBs, s->wss,
                   s->dFi, s->dBi, s->wsi};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) cudaFree(dev[i]);
    lb_gpu_host_free(s->hA);
    lb_gpu_host_free(s->hB[0]);
    lb_gpu_host_free(s->hB[1]);
    for (int i = 0; i < 2; i++) {
        if (s->up_done[i]) cudaEventDestroy(s->up_done[i]);
        if (s->used_done[i]) cudaEventDestroy(s->used_done[i]);
    }
    if (s->comp) cudaStreamDestroy(s->comp);
    if (s->copy) cudaStreamDestroy(s->copy);
    cudaGetLastError(); /* leave no sticky error from the teardown behind */
    memset(s, 0, sizeof *s);
}

/* The layouts (and algorithm) of S = T_tileᵀ-by-A in cuBLASLt's column-major view:
 *   A (target tile) d x nbt, ld d, op T  → nbt x d;   B (source block) d x nb, ld d, op N;
 *   D nbt x nb, ld nbt — i.e. S row-major [nb][nbt]. */
static labse_status knn_shape_get(knn_state *s, int nb, int nbt, size_t d, knn_shape **out,
                                  labse_error *err) {
    labse_status st = LABSE_OK;
    knn_shape *e = NULL;
    for (int i = 0; i < 4; i++) {
        if (s->shape[i].used && s->shape[i].nb == nb && s->shape[i].nbt == nbt) {
            *out = &s->shape[i];
            return LABSE_OK;
        }
        if (!e && !s->shape[i].used) e = &s->shape[i];
    }
    if (!e) return lb_err(err, LABSE_E_CUDA, "k-NN GEMM: more than 4 shapes (internal error)");
    e->used = 1;
    e->nb = nb;
    e->nbt = nbt;
    LB_BL(cublasLtMatrixLayoutCreate(&e->a, CUDA_R_32F, (uint64_t)d, (uint64_t)nbt, (int64_t)d));
    LB_BL(cublasLtMatrixLayoutCreate(&e->b, CUDA_R_32F, (uint64_t)d, (uint64_t)nb, (int64_t)d));
    LB_BL(cublasLtMatrixLayoutCreate(&e->d, CUDA_R_32F, (uint64_t)nbt, (uint64_t)nb,
                                     (int64_t)nbt));
    e->have_algo = lb_lt_pick(s->lt, s->desc, e->a, e->b, e->d, e->d, KNN_WORKSPACE, s->align,
                              &e->algo);
    *out = e;
    return LABSE_OK;
fail:
    return st;
}

/* Normalise rows [row0, row0 + n) of e into out (n x d) on up to nth OpenMP threads. */
static void knn_fetch(const lb_emb *e, uint64_t row0, size_t n, size_t d, float *out, int nth) {
    const size_t step = 64;
    const long chunks = (long)((n + step - 1) / step);
#pragma omp parallel for num_threads(nth) schedule(static) if (chunks > 1)
    for (long c = 0; c < chunks; c++) {
        const size_t i = (size_t)c * step;
        lb_emb_fetch_normalized(e, row0 + i, n - i < step ? n - i : step, out + i * d);
    }
}

static size_t env_cache_bytes(void) {
    const char *v = getenv("LABSE_KNN_GPU_CACHE_MB");
    long long mb = KNN_CACHE_MB_DEFAULT;
    if (v && *v) {
        char *end = NULL;
        long long x = strtoll(v, &end, 10);
        if (end && !*end && x >= 0) mb = x;
    }
    return (size_t)mb << 20;
}

static labse_status gpu_run(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                            const lb_knn_params *p, lb_topk *fwd, lb_topk *bwd,
                            labse_error *err) {
    const int device = *(const int *)be->ctx;
    const uint64_t ns = lb_emb_rows(src), nt = lb_emb_rows(tgt);
    const size_t d = lb_emb_dim(src);
    const int k = p->k;
    if (k > LB_TOPK_MAX_K)
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "k = %d: the GPU k-NN supports k <= %d (use device cpu)", k,
                      LB_TOPK_MAX_K);
    const int nth = p->threads > 0 ? p->threads : omp_get_num_procs();
    /* the results do not depend on the block size: larger requests are capped (S <= 1 GiB) */
    const size_t B = p->block_rows < KNN_MAX_BLOCK ? p->block_rows : KNN_MAX_BLOCK;
    const size_t bs = (size_t)(ns < B ? ns : B);
    const size_t bt = (size_t)(nt < B ? nt : B);
    const uint64_t ntiles = (nt + bt - 1) / bt;
    const size_t wmax = bs > bt ? bs : bt;
    const int nck = knn_chunks((int)wmax, 1); /* an upper bound on any update's chunks */
    const int resident = (double)nt * (double)d * 4.0 <= (double)env_cache_bytes();

    labse_status st = LABSE_OK;
    knn_state s;
    memset(&s, 0, sizeof s);

    LB_CU(cudaSetDevice(device));
    LB_CU(cudaStreamCreateWithFlags(&s.comp, cudaStreamNonBlocking));
    LB_CU(cudaStreamCreateWithFlags(&s.copy, cudaStreamNonBlocking));
    for (int i = 0; i < 2; i++) {
        LB_CU(cudaEventCreateWithFlags(&s.up_done[i], cudaEventDisableTiming));
        LB_CU(cudaEventCreateWithFlags(&s.used_done[i], cudaEventDisableTiming));
    }
    LB_BL(cublasLtCreate(&s.lt));
    LB_BL(cublasLtMatmulDescCreate(&s.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    {
        const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        LB_BL(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        LB_BL(cublasLtMatmulDescSetAttribute(s.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    }
    LB_CU(cudaMalloc(&s.ws, KNN_WORKSPACE));
    LB_CU(cudaMalloc((void **)&s.dA, bs * d * sizeof(float)));
    if (resident) {
        LB_CU(cudaMalloc((void **)&s.dT, (size_t)nt * d * sizeof(float)));
    } else {
        LB_CU(cudaMalloc((void **)&s.dB[0], bt * d * sizeof(float)));
        LB_CU(cudaMalloc((void **)&s.dB[1], bt * d * sizeof(float)));
    }
    LB_CU(cudaMalloc((void **)&s.dS, bs * bt * sizeof(float)));
    LB_CU(cudaMalloc((void **)&s.dFs, bs * (size_t)k * sizeof(float)));
    LB_CU(cudaMalloc((void **)&s.dFi, bs * (size_t)k * sizeof(uint32_t)));
    LB_CU(cudaMalloc((void **)&s.dBs, (size_t)nt * (size_t)k * sizeof(float)));
    LB_CU(cudaMalloc((void **)&s.dBi, (size_t)nt * (size_t)k * sizeof(uint32_t)));
    LB_CU(cudaMalloc((void **)&s.wss, (size_t)nck * (size_t)k * wmax * sizeof(float)));
    LB_CU(cudaMalloc((void **)&s.wsi, (size_t)nck * (size_t)k * wmax * sizeof(uint32_t)));
    /* The algorithms are picked for the alignment every GEMM operand pointer has: a resident
     * tile starts at dT + t0 * d floats, so for an odd d it is only 4-byte aligned. */
    if (resident) {
        const uint32_t base = lb_lt_align(s.dT);
        const uint32_t step = lb_lt_align((const void *)(uintptr_t)(bt * d * sizeof(float)));
        s.align[0] = base < step ? base : step;
    } else {
        const uint32_t a0 = lb_lt_align(s.dB[0]), a1 = lb_lt_align(s.dB[1]);
        s.align[0] = a0 < a1 ? a0 : a1;
    }
    s.align[1] = lb_lt_align(s.dA);
    s.align[2] = s.align[3] = lb_lt_align(s.dS);
    s.hA = lb_gpu_host_alloc(bs * d * sizeof(float));
    s.hB[0] = lb_gpu_host_alloc(bt * d * sizeof(float));
    s.hB[1] = lb_gpu_host_alloc(bt * d * sizeof(float));
    if (!s.hA || !s.hB[0] || !s.hB[1]) {
        st = lb_err(err, LABSE_E_NOMEM, "k-NN: out of pinned host memory (block %zu x dim %zu)",
                    bs, d);
        goto fail;
    }
    LB_CU(lb_topk_fill_empty(s.dBs, s.dBi, (size_t)nt * (size_t)k, s.comp));

    for (uint64_t s0 = 0; s0 < ns; s0 += bs) {
        const size_t nb = (size_t)(ns - s0 < bs ? ns - s0 : bs);
        /* The previous block is done (synchronised after its forward rows came back), so hA
         * and dA are free. */
        knn_fetch(src, s0, nb, d, s.hA, nth);
        LB_CU(cudaMemcpyAsync(s.dA, s.hA, nb * d * sizeof(float), cudaMemcpyHostToDevice,
                              s.comp));
        LB_CU(lb_topk_fill_empty(s.dFs, s.dFi, nb * (size_t)k, s.comp));
        for (uint64_t t = 0; t < ntiles; t++) {
            const uint64_t t0 = t * bt;
            const size_t nbt = (size_t)(nt - t0 < bt ? nt - t0 : bt);
            const int b = (int)(t & 1);
            float *dtile = resident ? s.dT + t0 * d : s.dB[b];
            if (!resident || s0 == 0) {
                /* staging buffer b is free once its previous upload finished */
                if (s.up_rec[b]) LB_CU(cudaEventSynchronize(s.up_done[b]));
                knn_fetch(tgt, t0, nbt, d, s.hB[b], nth);
                /* device buffer b is free once the GEMM that read it finished */
                if (!resident && s.used_rec[b])
                    LB_CU(cudaStreamWaitEvent(s.copy, s.used_done[b], 0));
                LB_CU(cudaMemcpyAsync(dtile, s.hB[b], nbt * d * sizeof(float),
                                      cudaMemcpyHostToDevice, s.copy));
                LB_CU(cudaEventRecord(s.up_done[b], s.copy));
                s.up_rec[b] = 1;
                LB_CU(cudaStreamWaitEvent(s.comp, s.up_done[b], 0));
            }
            knn_shape *sh = NULL;
            if ((st = knn_shape_get(&s, (int)nb, (int)nbt, d, &sh, err)) != LABSE_OK) goto fail;
            {
                const float alpha = 1.0f, beta = 0.0f;
                LB_BL(cublasLtMatmul(s.lt, s.desc, &alpha, dtile, sh->a, s.dA, sh->b, &beta, s.dS,
                                     sh->d, s.dS, sh->d, sh->have_algo ? &sh->algo : NULL, s.ws,
                                     KNN_WORKSPACE, s.comp));
            }
            /* backward: target column j of S (rows = the block's sources) → table row t0+j */
            LB_CU(lb_topk_update(s.dBs + t0 * (uint64_t)k, s.dBi + t0 * (uint64_t)k, k, s.dS,
                                 nbt, 1, (int)nb, (int)nbt, (uint32_t)s0,
                                 knn_chunks((int)nb, (int)nbt), s.wss, s.wsi, s.comp));
            /* forward: source row i of S (rows = the tile's targets) → block table row i */
            LB_CU(lb_topk_update(s.dFs, s.dFi, k, s.dS, 1, nbt, (int)nbt, (int)nb, (uint32_t)t0,
                                 knn_chunks((int)nbt, (int)nb), s.wss, s.wsi, s.comp));
            if (!resident) {
                LB_CU(cudaEventRecord(s.used_done[b], s.comp));
                s.used_rec[b] = 1;
            }
        }
        LB_CU(cudaStreamSynchronize(s.comp));
        LB_CU(cudaMemcpy(fwd->sim + s0 * (uint64_t)k, s.dFs, nb * (size_t)k * sizeof(float),
                         cudaMemcpyDeviceToHost));
        LB_CU(cudaMemcpy(fwd->idx + s0 * (uint64_t)k, s.dFi, nb * (size_t)k * sizeof(uint32_t),
                         cudaMemcpyDeviceToHost));
    }
    LB_CU(cudaStreamSynchronize(s.comp));
    LB_CU(cudaMemcpy(bwd->sim, s.dBs, (size_t)nt * (size_t)k * sizeof(float),
                     cudaMemcpyDeviceToHost));
    LB_CU(cudaMemcpy(bwd->idx, s.dBi, (size_t)nt * (size_t)k * sizeof(uint32_t),
                     cudaMemcpyDeviceToHost));
    knn_state_free(&s);
    return LABSE_OK;
fail:
    knn_state_free(&s);
    return st;
}

/* One backend object per ordinal (static storage; ctx points at the ordinal). */
static int KNN_DEVICES[LB_MAX_GPUS] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
#define KNN_BE(i) {"cuda", gpu_run, &KNN_DEVICES[i]}
static const lb_knn_backend KNN_GPU_BACKENDS[LB_MAX_GPUS] = {
    KNN_BE(0), KNN_BE(1), KNN_BE(2),  KNN_BE(3),  KNN_BE(4),  KNN_BE(5),  KNN_BE(6),  KNN_BE(7),
    KNN_BE(8), KNN_BE(9), KNN_BE(10), KNN_BE(11), KNN_BE(12), KNN_BE(13), KNN_BE(14), KNN_BE(15)};
_Static_assert(LB_MAX_GPUS == 16, "KNN_GPU_BACKENDS lists LB_MAX_GPUS entries");

const lb_knn_backend *lb_knn_backend_gpu(int device) {
    if (device < 0 || device >= LB_MAX_GPUS) return NULL;
    return &KNN_GPU_BACKENDS[device];
}
