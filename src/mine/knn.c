/* knn.c — blocked exact k-NN (both directions) with a streaming top-k; the CPU backend.
 * See knn.h for the algorithm, the tie rule and what is resident. */
#include "mine/knn.h"

#include <cblas.h>
#include <inttypes.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cpu/blas_core.h"
#include "engine/device.h"
#ifdef LABSE_HAVE_GPU
#include "gpu/gpu.h"
#endif

/* ==========================================================================================
 * Tables
 * ========================================================================================== */

void lb_topk_clear(float *sim, uint32_t *idx, int k) {
    for (int j = 0; j < k; j++) {
        sim[j] = -INFINITY;
        idx[j] = LB_KNN_EMPTY;
    }
}

labse_status lb_topk_alloc(lb_topk *t, uint64_t rows, int k, labse_error *err) {
    memset(t, 0, sizeof *t);
    size_t n = (size_t)rows * (size_t)k;
    t->sim = malloc((n ? n : 1) * sizeof *t->sim);
    t->idx = malloc((n ? n : 1) * sizeof *t->idx);
    if (!t->sim || !t->idx) {
        lb_topk_free(t);
        return lb_err(err, LABSE_E_NOMEM, "out of memory for a %" PRIu64 " x %d neighbour table",
                      rows, k);
    }
    for (uint64_t r = 0; r < rows; r++) lb_topk_clear(t->sim + r * k, t->idx + r * k, k);
    t->rows = rows;
    t->k = k;
    return LABSE_OK;
}

void lb_topk_free(lb_topk *t) {
    if (!t) return;
    free(t->sim);
    free(t->idx);
    memset(t, 0, sizeof *t);
}

/* ==========================================================================================
 * CPU backend
 * ========================================================================================== */

/* Per-thread working memory. */
typedef struct tile_ws {
    float *tgt;        /* bt x d normalised target rows of the tile */
    float *sims;       /* nb x bt cosines, row-major (source row i, target column j) */
    float *psim;       /* block_rows x k partial forward top-k of the block's source rows */
    uint32_t *pidx;
} tile_ws;

/*
 * One tile: source rows [s0, s0+nb) (normalised in a, nb x d) against target rows
 * [t0, t0+nbt). Updates the thread's partial forward lists (ws->psim/pidx, row i = source
 * s0+i) and the backward lists of rows t0.. of bwd (exclusive to this tile during a block).
 */
static void cpu_tile(const float *a, size_t nb, uint64_t s0, const lb_emb *tgt, uint64_t t0,
                     size_t nbt, size_t d, int k, tile_ws *ws, lb_topk *bwd) {
    lb_emb_fetch_normalized(tgt, t0, nbt, ws->tgt);
    /* sims[nb x nbt] = a[nb x d] . tgt[nbt x d]^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nb, (int)nbt, (int)d, 1.0f, a,
                (int)d, ws->tgt, (int)d, 0.0f, ws->sims, (int)nbt);
    float *bsim = bwd->sim + t0 * (uint64_t)k;
    uint32_t *bidx = bwd->idx + t0 * (uint64_t)k;
    for (size_t i = 0; i < nb; i++) {
        const float *row = ws->sims + i * nbt;
        float *ps = ws->psim + i * (size_t)k;
        uint32_t *pi = ws->pidx + i * (size_t)k;
        const uint32_t gi = (uint32_t)(s0 + i);
        float thr = ps[k - 1];
        uint32_t thr_i = pi[k - 1];
        for (size_t j = 0; j < nbt; j++) {
            const float v = row[j];
            const uint32_t gj = (uint32_t)(t0 + j);
            if (lb_topk_better(v, gj, thr, thr_i)) {
                lb_topk_push(ps, pi, k, v, gj);
                thr = ps[k - 1];
                thr_i = pi[k - 1];
            }
            float *cs = bsim + j * (size_t)k;
            uint32_t *ci = bidx + j * (size_t)k;
            if (lb_topk_better(v, gi, cs[k - 1], ci[k - 1])) lb_topk_push(cs, ci, k, v, gi);
        }
    }
}

static labse_status cpu_run(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                            const lb_knn_params *p, lb_topk *fwd, lb_topk *bwd,
                            labse_error *err) {
    (void)be;
    const uint64_t ns = lb_emb_rows(src), nt = lb_emb_rows(tgt);
    const size_t d = lb_emb_dim(src);
    const int k = p->k;
    /* 0 = all cores; not omp_get_max_threads(): an encoder call on this thread may have
     * lowered its OpenMP default (lb_cpu_forward sets it per call). */
    const int nth = p->threads > 0 ? p->threads : omp_get_num_procs();
    size_t bs = p->block_rows;
    if (bs > ns) bs = (size_t)ns;
    /* Target tile: block_rows, or smaller so that every thread gets at least one tile. */
    size_t bt = (size_t)((nt + (uint64_t)nth - 1) / (uint64_t)nth);
    if (bt > p->block_rows) bt = p->block_rows;
    if (bt < 1) bt = 1;
    const uint64_t ntiles = (nt + bt - 1) / bt;

    labse_status st = LABSE_OK;
    float *a = malloc(bs * d * sizeof *a);
    tile_ws *ws = calloc((size_t)nth, sizeof *ws);
    if (!a || !ws) goto nomem;
    for (int t = 0; t < nth; t++) {
        ws[t].tgt = malloc(bt * d * sizeof(float));
        ws[t].sims = malloc(bs * bt * sizeof(float));
        ws[t].psim = malloc(bs * (size_t)k * sizeof(float));
        ws[t].pidx = malloc(bs * (size_t)k * sizeof(uint32_t));
        if (!ws[t].tgt || !ws[t].sims || !ws[t].psim || !ws[t].pidx) goto nomem;
    }

    for (uint64_t s0 = 0; s0 < ns; s0 += bs) {
        const size_t nb = (size_t)(ns - s0 < bs ? ns - s0 : bs);
#pragma omp parallel num_threads(nth)
        {
            /* Normalise the source block (rows split over threads) and clear the partials. */
#pragma omp for schedule(static)
            for (size_t i = 0; i < nb; i += 64)
                lb_emb_fetch_normalized(src, s0 + i, nb - i < 64 ? nb - i : 64, a + i * d);
            tile_ws *w = &ws[omp_get_thread_num()];
            for (size_t i = 0; i < nb; i++)
                lb_topk_clear(w->psim + i * (size_t)k, w->pidx + i * (size_t)k, k);
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
            for (uint64_t tile = 0; tile < ntiles; tile++) {
                const uint64_t t0 = tile * bt;
                const size_t nbt = (size_t)(nt - t0 < bt ? nt - t0 : bt);
                cpu_tile(a, nb, s0, tgt, t0, nbt, d, k, w, bwd);
            }
            /* implicit barrier: every tile of this block is done */
#pragma omp for schedule(static)
            for (size_t i = 0; i < nb; i++) {
                float *fs = fwd->sim + (s0 + i) * (uint64_t)k;
                uint32_t *fi = fwd->idx + (s0 + i) * (uint64_t)k;
                for (int t = 0; t < nth; t++)
                    for (int j = 0; j < k; j++) {
                        const size_t o = i * (size_t)k + (size_t)j;
                        if (ws[t].pidx[o] == LB_KNN_EMPTY) break;
                        lb_topk_push(fs, fi, k, ws[t].psim[o], ws[t].pidx[o]);
                    }
            }
        }
    }
    goto done;
nomem:
    st = lb_err(err, LABSE_E_NOMEM,
                "out of memory for the k-NN work buffers (block %zu x %zu, dim %zu, %d threads)",
                bs, bt, d, nth);
done:
    if (ws)
        for (int t = 0; t < nth; t++) {
            free(ws[t].tgt);
            free(ws[t].sims);
            free(ws[t].psim);
            free(ws[t].pidx);
        }
    free(ws);
    free(a);
    return st;
}

static const lb_knn_backend CPU_BACKEND = {"cpu", cpu_run, NULL};

const lb_knn_backend *lb_knn_backend_cpu(void) { return &CPU_BACKEND; }

/* ==========================================================================================
 * Entry point
 * ========================================================================================== */

labse_status lb_knn_run(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                        const lb_knn_params *p, lb_topk *fwd, lb_topk *bwd, labse_error *err) {
    if (fwd) memset(fwd, 0, sizeof *fwd);
    if (bwd) memset(bwd, 0, sizeof *bwd);
    if (!src || !tgt || !p || !fwd || !bwd)
        return lb_err(err, LABSE_E_INVALID, "lb_knn_run: NULL argument");
    if (!be) be = lb_knn_backend_cpu();
    const uint64_t ns = lb_emb_rows(src), nt = lb_emb_rows(tgt);
    if (lb_emb_dim(src) != lb_emb_dim(tgt))
        return lb_err(err, LABSE_E_INVALID, "dimension mismatch: %s has %zu, %s has %zu",
                      lb_emb_name(src), lb_emb_dim(src), lb_emb_name(tgt), lb_emb_dim(tgt));
    if (ns == 0 || nt == 0)
        return lb_err(err, LABSE_E_INVALID, "%s has no rows", ns == 0 ? lb_emb_name(src)
                                                                      : lb_emb_name(tgt));
    if (p->k < 1 || (uint64_t)p->k > ns || (uint64_t)p->k > nt)
        return lb_err(err, LABSE_E_INVALID,
                      "k = %d must be in 1..min(rows) = %" PRIu64, p->k, ns < nt ? ns : nt);
    if (p->block_rows < 1 || p->block_rows > (1u << 20))
        return lb_err(err, LABSE_E_INVALID, "block rows %zu not in 1..1048576", p->block_rows);
    if (lb_emb_dim(src) > (size_t)INT32_MAX)
        return lb_err(err, LABSE_E_INVALID, "dimension too large");
    labse_status s = lb_topk_alloc(fwd, ns, p->k, err);
    if (s == LABSE_OK) s = lb_topk_alloc(bwd, nt, p->k, err);
    if (s == LABSE_OK) s = be->run(be, src, tgt, p, fwd, bwd, err);
    if (s != LABSE_OK) {
        lb_topk_free(fwd);
        lb_topk_free(bwd);
    }
    return s;
}

/* ==========================================================================================
 * The checks and the search of `labse mine`, `labse eval` and labse_mine (one code path)
 * ========================================================================================== */

labse_status lb_knn_mine_run(const lb_emb *src, const lb_emb *tgt, int k, size_t block_rows,
                             int threads, int *k_used, lb_topk *fwd, lb_topk *bwd,
                             labse_error *err) {
    return lb_knn_mine_run_on(NULL, src, tgt, k, block_rows, threads, k_used, fwd, bwd, err);
}

labse_status lb_knn_mine_run_on(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                                int k, size_t block_rows, int threads, int *k_used, lb_topk *fwd,
                                lb_topk *bwd, labse_error *err) {
    if (fwd) memset(fwd, 0, sizeof *fwd);
    if (bwd) memset(bwd, 0, sizeof *bwd);
    if (!src || !tgt || !fwd || !bwd)
        return lb_err(err, LABSE_E_INVALID, "k-NN: NULL argument");
    const uint64_t ns = lb_emb_rows(src), nt = lb_emb_rows(tgt);
    if (ns == 0 || nt == 0)
        return lb_err(err, LABSE_E_INVALID, "%s: no rows (an empty corpus has nothing to mine)",
                      ns == 0 ? lb_emb_name(src) : lb_emb_name(tgt));
    if (lb_emb_dim(src) != lb_emb_dim(tgt))
        return lb_err(err, LABSE_E_INVALID, "dimension mismatch: %s has dim %zu, %s has dim %zu",
                      lb_emb_name(src), lb_emb_dim(src), lb_emb_name(tgt), lb_emb_dim(tgt));
    if (k < 1) return lb_err(err, LABSE_E_INVALID, "k = %d must be >= 1", k);
    if (threads < 0) return lb_err(err, LABSE_E_INVALID, "threads = %d must be >= 0", threads);
    labse_status s = lb_emb_validate(src, threads, err);
    if (s == LABSE_OK) s = lb_emb_validate(tgt, threads, err);
    if (s != LABSE_OK) return s;
    uint64_t kmax = ns < nt ? ns : nt;
    if ((uint64_t)k > kmax) k = (int)kmax;
    if (k_used) *k_used = k;
    lb_knn_params p = {k, block_rows, threads};
    return lb_knn_run(be, src, tgt, &p, fwd, bwd, err);
}

/* ==========================================================================================
 * Backend choice
 * ========================================================================================== */

labse_status lb_knn_backend_select(labse_device device, int cuda_device,
                                   const lb_knn_backend **out, labse_error *err) {
    if (!out) return lb_err(err, LABSE_E_INVALID, "k-NN backend: NULL argument");
    *out = lb_knn_backend_cpu();
    lb_blas_core_select(); /* OpenBLAS's kernels for this CPU, before any GEMM (blas_core.h) */
    labse_device dev;
    labse_status s = lb_device_resolve(device, cuda_device, &dev, err); /* the "auto" rule */
    if (s != LABSE_OK) {
        lb_err_prefix(err, "k-NN");
        return s;
    }
    if (dev == LABSE_DEVICE_CPU) return LABSE_OK;
#ifdef LABSE_HAVE_GPU
    const int ord = cuda_device == LABSE_CUDA_ALL ? 0 : cuda_device;
    if (ord < 0 || ord >= LB_MAX_GPUS) {
        if (device != LABSE_DEVICE_CUDA) return LABSE_OK; /* auto: the CPU */
        return lb_err(err, LABSE_E_UNSUPPORTED, "k-NN: device cuda:%d is not supported",
                      cuda_device);
    }
    if (device == LABSE_DEVICE_CUDA && (s = lb_gpu_device_check(ord, NULL, 0, err)) != LABSE_OK)
        return s;
    *out = lb_knn_backend_gpu(ord);
#endif
    return LABSE_OK;
}
