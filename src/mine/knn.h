/* knn.h — exact k-nearest-neighbour search by cosine between two embedding matrices, both
 * directions at once, in memory bounded by the block size; the streaming top-k it rests on.
 *
 * The problem: src (ns x d) and tgt (nt x d), rows L2-normalised on the fly
 * (lb_emb_fetch_normalized). For every source row x, its k most similar target rows
 * NN_k(x) (the "forward" table) and for every target row y its k most similar source rows
 * NN_k(y) (the "backward" table), with their cosines.
 *
 * Order and ties. A table row is sorted by cosine descending; equal cosines by index
 * ascending: "(s1, i1) is better than (s2, i2)" iff s1 > s2 or (s1 == s2 and i1 < i2). So of
 * two equally similar neighbours the lower index wins, both for membership in the top k and
 * for the order inside it. The result does not depend on the block sizes or the number of
 * threads (every cosine is one GEMM dot product of the same two normalised rows; the top-k
 * is a function of the (cosine, index) pairs only). Cosines are float32 from sgemm over
 * float32-normalised rows: within ~1e-6 of the exact float64 value for d = 768.
 *
 * Backends. The work is behind lb_knn_backend (the GPU seam): a backend gets the two
 * matrices and the parameters and fills both tables. The GPU backend (lb_knn_backend_gpu,
 * src/mine/knn_gpu.c) is described there; the CPU backend:
 *   tiles of block_rows source rows x bt target rows (bt = block_rows, or smaller so every
 *   thread has a tile); source blocks run one after another, the target tiles of a block in
 *   parallel (OpenMP, dynamic). Each tile: fetch+normalise the target rows, one
 *   single-threaded cblas_sgemm (OpenBLAS runs single-threaded inside a parallel region),
 *   then one pass over the tile updating the thread's partial forward top-k of the block's
 *   rows and the backward top-k of the tile's target rows (which only this tile's thread
 *   touches during this block). Partial forward lists are merged after the block.
 *   Resident memory: block_rows x d (source block) + per thread [bt x d (target tile) +
 *   block_rows x bt (similarities) + block_rows x k (partial top-k)] floats, whatever the
 *   corpus; plus the output tables (ns + nt) x k x 8 bytes, which the margin needs.
 *   For block_rows = 2048, d = 768, 2 threads: ~56 MB + 8 bytes x k x (ns + nt).
 *
 * Thread-safety: every function is reentrant; lb_knn_run uses OpenMP threads internally.
 * Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_KNN_H
#define LB_KNN_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "mine/mine_emb.h"

#define LB_KNN_EMPTY UINT32_MAX  /* index of an unfilled top-k slot (cosine -inf) */

/* ------------------------------------------------------------------------------------------
 * Streaming top-k: a sorted array of k (cosine, index) slots.
 * ------------------------------------------------------------------------------------------ */

/* 1 iff (s1, i1) ranks before (s2, i2): higher cosine, then lower index. */
static inline int lb_topk_better(float s1, uint32_t i1, float s2, uint32_t i2) {
    return s1 > s2 || (s1 == s2 && i1 < i2);
}

/* Make k empty slots (-inf, LB_KNN_EMPTY). */
void lb_topk_clear(float *sim, uint32_t *idx, int k);

/* Offer (s, i): kept iff it ranks before the last slot; inserted in order (insertion into a
 * sorted k-array: O(k) worst case, O(1) for the common reject). s must not be NaN. */
static inline void lb_topk_push(float *sim, uint32_t *idx, int k, float s, uint32_t i) {
    if (!lb_topk_better(s, i, sim[k - 1], idx[k - 1])) return;
    int p = k - 1;
    while (p > 0 && lb_topk_better(s, i, sim[p - 1], idx[p - 1])) {
        sim[p] = sim[p - 1];
        idx[p] = idx[p - 1];
        p--;
    }
    sim[p] = s;
    idx[p] = i;
}

/* ------------------------------------------------------------------------------------------
 * Tables and the search
 * ------------------------------------------------------------------------------------------ */

/* rows x k neighbours, row-major: row r's slots are sim[r*k .. r*k+k), idx[...] likewise,
 * sorted as above. Owned by whoever filled it; free with lb_topk_free. */
typedef struct lb_topk {
    uint64_t rows;
    int k;
    float *sim;      /* cosine of each neighbour */
    uint32_t *idx;   /* row index of each neighbour in the other matrix */
} lb_topk;

/* Allocate rows x k empty slots. LABSE_E_NOMEM on failure (t zeroed). */
labse_status lb_topk_alloc(lb_topk *t, uint64_t rows, int k, labse_error *err);
void lb_topk_free(lb_topk *t);  /* frees the arrays and zeroes *t; zeroed t is a no-op */

typedef struct lb_knn_params {
    int k;              /* neighbours per row, 1 <= k <= min(ns, nt) (the caller clamps) */
    size_t block_rows;  /* source rows per block (and max target rows per tile), >= 1 */
    int threads;        /* OpenMP threads; 0 = all cores (omp_get_num_procs) */
} lb_knn_params;

/* The GPU seam: one implementation of "similarity tiles + top-k" for both directions.
 * run() receives validated matrices of equal dim and tables allocated with rows x p->k empty
 * slots; it fills them. It may fail only for resources (NOMEM, CUDA). ctx: backend state. */
typedef struct lb_knn_backend {
    const char *name;   /* "cpu", later "cuda" */
    labse_status (*run)(const struct lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                        const lb_knn_params *p, lb_topk *fwd, lb_topk *bwd, labse_error *err);
    void *ctx;
} lb_knn_backend;

/* The OpenBLAS + OpenMP backend (static storage). */
const lb_knn_backend *lb_knn_backend_cpu(void);

/* The GPU backend on CUDA ordinal `device` (src/mine/knn_gpu.c, static storage; NULL for an ordinal
 * outside 0..15). Defined only in builds with a GPU backend (LABSE_HAVE_GPU); other code calls
 * it under #ifdef LABSE_HAVE_GPU or through lb_knn_backend_select. cuBLASLt fp32 tiles + the
 * exact top-k kernel (kernels/topk.cu): the same tables as the CPU backend up to near-ties
 * closer than fp32 rounding; k <= 64. See gpu_knn.c for blocking and device memory. */
const lb_knn_backend *lb_knn_backend_gpu(int device);

/*
 * The backend for a device choice (labse_options' device / cuda_device, as `--device`):
 *   LABSE_DEVICE_CPU   the CPU backend;
 *   LABSE_DEVICE_AUTO  the GPU backend on cuda_device (0 when LABSE_CUDA_ALL) when this build
 *                      has a real GPU backend and that device is present, else the CPU (the
 *                      emulator is never picked automatically, as for the encoder);
 *   LABSE_DEVICE_CUDA  the GPU backend on cuda_device (LABSE_CUDA_ALL: device 0; the search
 *                      runs on one GPU); LABSE_E_UNSUPPORTED when the build has no GPU backend
 *                      or there is no such device.
 * Errors: LABSE_E_INVALID for an unknown device value.
 */
labse_status lb_knn_backend_select(labse_device device, int cuda_device,
                                   const lb_knn_backend **out, labse_error *err);

/*
 * Check the arguments (equal dim, non-empty, 1 <= k <= min(ns, nt), block_rows >= 1),
 * allocate fwd (ns x k) and bwd (nt x k), run the backend (NULL = CPU).
 * The matrices must already have passed lb_emb_validate (no NaN, no zero rows).
 * On failure fwd and bwd are zeroed. Errors: LABSE_E_INVALID with the reason, NOMEM, backend.
 */
labse_status lb_knn_run(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                        const lb_knn_params *p, lb_topk *fwd, lb_topk *bwd, labse_error *err);

/*
 * What `labse mine`, `labse eval` and labse_mine do before scoring, in one place: refuse an
 * empty matrix ("NAME: no rows ...") or unequal dims ("dimension mismatch ...")
 * (LABSE_E_INVALID), lb_emb_validate both (LABSE_E_FORMAT naming the row), lower k to
 * min(ns, nt) (*k_used, may be NULL, receives the k searched with), then lb_knn_run on the
 * CPU backend (lb_knn_mine_run_on: on a given backend). k >= 1, threads >= 0 (0 = default),
 * block_rows as lb_knn_params.
 */
labse_status lb_knn_mine_run(const lb_emb *src, const lb_emb *tgt, int k, size_t block_rows,
                             int threads, int *k_used, lb_topk *fwd, lb_topk *bwd,
                             labse_error *err);

/* The same on backend `be` (NULL = CPU). */
labse_status lb_knn_mine_run_on(const lb_knn_backend *be, const lb_emb *src, const lb_emb *tgt,
                                int k, size_t block_rows, int threads, int *k_used, lb_topk *fwd,
                                lb_topk *bwd, labse_error *err);

#endif
