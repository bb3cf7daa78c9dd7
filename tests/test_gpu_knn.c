/* test_gpu_knn.c — the GPU k-NN (src/mine/knn_gpu.c, kernels/topk.cu) against the CPU backend
 * (src/mine/knn.c) and against full sorts. Labels: emu (small sizes, on the emulator) and gpu (full
 * sizes on a real GPU; exit 77 without a device).
 *
 * usage: test_gpu_knn small|full [LABSE_CLI]
 *
 * Cases:
 *   topk_kernel    lb_topk_update alone, both orientations, several chunkings and k up to 64,
 *                  values from a small set (many ties), two updates merged into one table:
 *                  equal (bits and indices) to a full sort of every candidate per column.
 *   tables_ties    dyadic embeddings (16/64/4 entries of ±1 per row: every normalised value and
 *                  every dot product is exact in fp32 in any summation order) with exact
 *                  duplicate rows: GPU tables == CPU tables bit for bit, and both == a full
 *                  sort by (cosine desc, index asc): the lower-index rule under massive ties.
 *   tables_random  Gaussian rows, k in {1, 4, 16}, several block sizes (ragged last tiles),
 *                  streamed and resident targets: every cosine within 1e-6 of the CPU's and
 *                  the same index in every slot, except near-ties (see TOL_COS).
 *   mine_e2e       lb_knn_mine_run_on (CPU vs GPU) + lb_mine_pairs for every margin and
 *                  retrieval: the same number of pairs, scores within 1e-5, the same pairs.
 *   cli            `labse mine --device cuda` vs `--device cpu` on .npy files (when LABSE_CLI
 *                  is given): the same lines, scores within 1e-5 (equal files expected).
 *
 * Tolerances. Both backends multiply the same float32 normalised rows (lb_emb_fetch_normalized)
 * in fp32 with fp32 accumulation; only the summation order differs (cuBLAS vs OpenBLAS). For
 * unit vectors each computed dot product is within ~sqrt(d) * 2^-24 * max|partial sum| of the
 * exact value with random rounding (worst case d * 2^-24 = 4.6e-5, never approached by blocked
 * FMA accumulation): ~1e-7 for d = 768, so TOL_COS = 1e-6 per cosine. Where the two backends'
 * neighbours differ in a slot, the two candidates must be a near-tie: their exact (double)
 * cosines within 2 * TOL_COS. Margin scores are ratios of cosines to means of 2k cosines
 * (~1e-7 relative each, scores ~1): TOL_SCORE = 1e-5. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu_test_util.h"
#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"
#include "topk.cuh"

#define TOL_COS 1e-6
#define TOL_SCORE 1e-5

static int g_full = 0;
static const char *g_cli = NULL;
static uint64_t g_seed = 0;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ==========================================================================================
 * Reference: full sort
 * ========================================================================================== */

typedef struct cand {
    float s;
    uint32_t i;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *p = a, *q = b;
    if (p->s != q->s) return p->s > q->s ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* ==========================================================================================
 * topk_kernel
 * ========================================================================================== */

static void topk_case(gt_rng *r, int rows, int cols, int k, int transposed, int nchunks) {
    /* Two candidate matrices (indices 0..rows-1 then rows..2rows-1) of rows x cols in the
     * orientation under test; values from {-1, -7/8, ..., 1} (ties everywhere). */
    const size_t n = (size_t)rows * cols;
    float *m[2];
    float *dm[2];
    for (int h = 0; h < 2; h++) {
        m[h] = malloc(n * sizeof(float));
        assert_non_null(m[h]);
        for (size_t x = 0; x < n; x++) m[h][x] = (float)((int)(gt_next(r) % 17) - 8) / 8.0f;
        dm[h] = gt_upload(m[h], n * sizeof(float));
    }
    const size_t rs = transposed ? 1 : (size_t)cols, cs = transposed ? (size_t)rows : 1;
    float *ds = gt_dev_alloc((size_t)cols * k * sizeof(float));
    uint32_t *di = gt_dev_alloc((size_t)cols * k * sizeof(uint32_t));
    float *wss = gt_dev_alloc((size_t)nchunks * k * cols * sizeof(float));
    uint32_t *wsi = gt_dev_alloc((size_t)nchunks * k * cols * sizeof(uint32_t));
    GT_CUDA(lb_topk_fill_empty(ds, di, (size_t)cols * k, 0));
    for (int h = 0; h < 2; h++)
        GT_CUDA(lb_topk_update(ds, di, k, dm[h], rs, cs, rows, cols, (uint32_t)(h * rows), nchunks,
                               wss, wsi, 0));
    float *hs = malloc((size_t)cols * k * sizeof(float));
    uint32_t *hi = malloc((size_t)cols * k * sizeof(uint32_t));
    memset(hs, 0xAB, (size_t)cols * k * sizeof(float)); /* poison */
    memset(hi, 0xAB, (size_t)cols * k * sizeof(uint32_t));
    gt_download(hs, ds, (size_t)cols * k * sizeof(float));
    gt_download(hi, di, (size_t)cols * k * sizeof(uint32_t));
    cand *all = malloc((size_t)2 * rows * sizeof(cand));
    for (int c = 0; c < cols; c++) {
        for (int h = 0; h < 2; h++)
            for (int x = 0; x < rows; x++) {
                all[h * rows + x].s = m[h][(size_t)x * rs + (size_t)c * cs];
                all[h * rows + x].i = (uint32_t)(h * rows + x);
            }
        qsort(all, (size_t)2 * rows, sizeof(cand), cand_cmp);
        for (int j = 0; j < k; j++) {
            const float es = j < 2 * rows ? all[j].s : -INFINITY;
            const uint32_t ei = j < 2 * rows ? all[j].i : LB_TOPK_EMPTY;
            if (hs[(size_t)c * k + j] != es || hi[(size_t)c * k + j] != ei)
                fail_msg("rows %d cols %d k %d transposed %d chunks %d: column %d slot %d: "
                         "(%g, %u) expected (%g, %u)", rows, cols, k, transposed, nchunks, c, j,
                         hs[(size_t)c * k + j], hi[(size_t)c * k + j], es, ei);
        }
    }
    free(all);
    free(hs);
    free(hi);
    for (int h = 0; h < 2; h++) {
        free(m[h]);
        GT_CUDA(cudaFree(dm[h]));
    }
    GT_CUDA(cudaFree(ds));
    GT_CUDA(cudaFree(di));
    GT_CUDA(cudaFree(wss));
    GT_CUDA(cudaFree(wsi));
}

static void test_topk_kernel(void **state) {
    (void)state;
    gt_rng r = {g_seed ^ 0x70b4};
    const int rows = g_full ? 1500 : 150, cols = g_full ? 1200 : 70;
    const int ks[] = {1, 4, 16, 64};
    for (int t = 0; t < 2; t++)
        for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
            topk_case(&r, rows, cols, ks[a], t, 1);
            topk_case(&r, rows, cols, ks[a], t, 7);
            topk_case(&r, rows, cols, ks[a], t, g_full ? 200 : rows); /* small: a row a chunk */
        }
    topk_case(&r, 3, 5, 16, 0, 2); /* fewer candidates than k: empty slots stay empty */
    /* bad arguments */
    float *d = gt_dev_alloc(64 * sizeof(float));
    uint32_t *di = gt_dev_alloc(64 * sizeof(uint32_t));
    assert_int_equal(lb_topk_update(d, di, 0, d, 1, 1, 1, 1, 0, 1, NULL, NULL, 0),
                     cudaErrorInvalidValue);
    assert_int_equal(lb_topk_update(d, di, 65, d, 1, 1, 1, 1, 0, 1, NULL, NULL, 0),
                     cudaErrorInvalidValue);
    assert_int_equal(lb_topk_update(d, di, 1, d, 1, 1, 4, 1, 0, 2, NULL, NULL, 0),
                     cudaErrorInvalidValue);
    assert_int_equal(lb_topk_update(d, di, 1, d, 1, 1, 4, 1, 0xFFFFFFFCu, 1, NULL, NULL, 0),
                     cudaErrorInvalidValue);
    assert_int_equal(lb_topk_update(d, di, 1, d, 1, 1, 0, 5, 0, 1, NULL, NULL, 0), cudaSuccess);
    GT_CUDA(cudaFree(d));
    GT_CUDA(cudaFree(di));
}

/* ==========================================================================================
 * Embeddings and table comparisons
 * ========================================================================================== */

static float *gauss_rows(gt_rng *r, uint64_t n, size_t d) {
    float *x = malloc((size_t)n * d * sizeof(float));
    assert_non_null(x);
    for (size_t i = 0; i < (size_t)n * d; i++) x[i] = gt_normal(r);
    return x;
}

/* Dyadic rows: 4, 16 or 64 entries ±1 (norm 2, 4, 8: normalised entries 1/2, 1/4, 1/8 exact;
 * every dot product a sum of multiples of 2^-6 in [-1, 1]: exact in fp32 whatever the order),
 * and every 5th row a copy of an earlier one (exact duplicates: equal cosines). */
static float *dyadic_rows(gt_rng *r, uint64_t n, size_t d) {
    float *x = calloc((size_t)n * d, sizeof(float));
    assert_non_null(x);
    for (uint64_t i = 0; i < n; i++) {
        float *row = x + i * d;
        if (i >= 5 && i % 5 == 0) {
            memcpy(row, x + (gt_next(r) % i) * d, d * sizeof(float));
            continue;
        }
        const size_t nz[3] = {4, 16, 64};
        size_t m = nz[gt_next(r) % 3];
        if (m > d) m = 4;
        size_t placed = 0;
        while (placed < m) {
            size_t j = gt_next(r) % d;
            if (row[j] != 0.0f) continue;
            row[j] = (gt_next(r) & 1) ? 1.0f : -1.0f;
            placed++;
        }
    }
    return x;
}

static lb_emb *wrap(float *x, uint64_t n, size_t d, const char *name) {
    lb_emb *e = NULL;
    labse_error err = {0};
    assert_int_equal(lb_emb_wrap(x, n, d, 1, name, &e, &err), LABSE_OK);
    return e;
}

/* cos(a_i, b_j) in double over the normalised float rows. */
static double cos_exact(const lb_emb *a, uint64_t i, const lb_emb *b, uint64_t j, float *buf) {
    const size_t d = lb_emb_dim(a);
    lb_emb_fetch_normalized(a, i, 1, buf);
    lb_emb_fetch_normalized(b, j, 1, buf + d);
    double s = 0;
    for (size_t x = 0; x < d; x++) s += (double)buf[x] * (double)buf[d + x];
    return s;
}

/* Run backend `be` into tables allocated here (empty slots, the run() contract). For the GPU
 * backend they are poisoned instead (NaN cosines, index 0xdeadbeef): it must overwrite every
 * slot (the CPU backend pushes into the given empty slots, so it gets them clean). */
static void run_poisoned(const lb_knn_backend *be, const lb_emb *s, const lb_emb *t, int k,
                         size_t block, lb_topk *fwd, lb_topk *bwd) {
    labse_error err = {0};
    assert_int_equal(lb_topk_alloc(fwd, lb_emb_rows(s), k, &err), LABSE_OK);
    assert_int_equal(lb_topk_alloc(bwd, lb_emb_rows(t), k, &err), LABSE_OK);
    lb_topk *tb[2] = {fwd, bwd};
    for (int h = 0; h < 2 && be != lb_knn_backend_cpu(); h++)
        for (size_t x = 0; x < (size_t)tb[h]->rows * (size_t)k; x++) {
            tb[h]->sim[x] = NAN;
            tb[h]->idx[x] = 0xdeadbeefu;
        }
    lb_knn_params p = {k, block, 0};
    labse_status st = be->run(be, s, t, &p, fwd, bwd, &err);
    if (st != LABSE_OK) fail_msg("%s backend: %s", be->name, err.message);
}

/* GPU table g (k_g slots) against CPU table c (k_c >= k_g slots; the top k_g is its prefix:
 * the order is total). a = the table's rows' matrix, b = the neighbours' matrix.
 * exact: bits and indices equal. Returns the number of near-tie index swaps. */
static size_t compare_tables(const lb_topk *g, const lb_topk *c, const lb_emb *a,
                             const lb_emb *b, int exact, const char *what) {
    assert_int_equal(g->rows, c->rows);
    assert_true(g->k <= c->k);
    float *buf = malloc(2 * lb_emb_dim(a) * sizeof(float));
    size_t swaps = 0;
    for (uint64_t r = 0; r < g->rows; r++)
        for (int j = 0; j < g->k; j++) {
            const float gs = g->sim[r * g->k + j], cs = c->sim[r * c->k + j];
            const uint32_t gi = g->idx[r * g->k + j], ci = c->idx[r * c->k + j];
            if (exact) {
                if (gs != cs || gi != ci)
                    fail_msg("%s: row %" PRIu64 " slot %d: GPU (%.9g, %u), CPU (%.9g, %u)", what,
                             r, j, gs, gi, cs, ci);
                continue;
            }
            if (!(fabs((double)gs - (double)cs) <= TOL_COS))
                fail_msg("%s: row %" PRIu64 " slot %d: GPU cosine %.9g, CPU %.9g (> %g)", what, r,
                         j, gs, cs, TOL_COS);
            if (gi != ci) {
                if (gi >= lb_emb_rows(b))
                    fail_msg("%s: row %" PRIu64 " slot %d: GPU index %u out of range", what, r,
                             j, gi);
                const double eg = cos_exact(a, r, b, gi, buf), ec = cos_exact(a, r, b, ci, buf);
                if (!(fabs(eg - ec) <= 2 * TOL_COS))
                    fail_msg("%s: row %" PRIu64 " slot %d: GPU %u (exact %.9g), CPU %u (exact "
                             "%.9g): not a near-tie", what, r, j, gi, eg, ci, ec);
                swaps++;
            }
        }
    free(buf);
    return swaps;
}

/* Full-sort reference table row r of a against b (double cosines of exact dyadic data are
 * the fp32 ones). */
static void check_against_sort(const lb_topk *t, const lb_emb *a, const lb_emb *b) {
    const uint64_t nb = lb_emb_rows(b);
    const size_t d = lb_emb_dim(a);
    float *buf = malloc(2 * d * sizeof(float));
    cand *all = malloc(nb * sizeof(cand));
    for (uint64_t r = 0; r < t->rows; r++) {
        for (uint64_t j = 0; j < nb; j++) {
            all[j].s = (float)cos_exact(a, r, b, j, buf);
            all[j].i = (uint32_t)j;
        }
        qsort(all, nb, sizeof(cand), cand_cmp);
        for (int j = 0; j < t->k; j++)
            if (t->sim[r * t->k + j] != all[j].s || t->idx[r * t->k + j] != all[j].i)
                fail_msg("row %" PRIu64 " slot %d: (%.9g, %u), full sort (%.9g, %u)", r, j,
                         t->sim[r * t->k + j], t->idx[r * t->k + j], all[j].s, all[j].i);
    }
    free(all);
    free(buf);
}

static const lb_knn_backend *gpu_be(void) {
    const lb_knn_backend *be = lb_knn_backend_gpu(0);
    assert_non_null(be);
    return be;
}

/* ==========================================================================================
 * tables_ties / tables_random
 * ========================================================================================== */

static void test_tables_ties(void **state) {
    (void)state;
    gt_rng r = {g_seed ^ 0x71e5};
    const uint64_t ns = g_full ? 3000 : 200, nt = g_full ? 4001 : 181;
    const size_t dims[2] = {64, 768};
    for (int di = 0; di < 2; di++) {
        const size_t d = dims[di];
        lb_emb *s = wrap(dyadic_rows(&r, ns, d), ns, d, "src");
        lb_emb *t = wrap(dyadic_rows(&r, nt, d), nt, d, "tgt");
        lb_topk cf = {0}, cb = {0};
        run_poisoned(lb_knn_backend_cpu(), s, t, 16, 512, &cf, &cb);
        if (!g_full || d == 64) { /* the full sort is O(n^2 log n) on the host */
            check_against_sort(&cf, s, t);
            check_against_sort(&cb, t, s);
        }
        const int ks[3] = {1, 4, 16};
        const size_t blocks[3] = {g_full ? 1000 : 37, g_full ? 2048 : 64, 100000};
        for (int a = 0; a < 3; a++)
            for (int bi = 0; bi < 3; bi++) {
                lb_topk gf = {0}, gb = {0};
                run_poisoned(gpu_be(), s, t, ks[a], blocks[bi], &gf, &gb);
                char what[96];
                snprintf(what, sizeof what, "ties d %zu k %d block %zu fwd", d, ks[a], blocks[bi]);
                compare_tables(&gf, &cf, s, t, 1, what);
                what[strlen(what) - 3] = 0;
                strcat(what, "bwd");
                compare_tables(&gb, &cb, t, s, 1, what);
                lb_topk_free(&gf);
                lb_topk_free(&gb);
            }
        lb_topk_free(&cf);
        lb_topk_free(&cb);
        lb_emb_free(s);
        lb_emb_free(t);
    }
}

static void test_tables_random(void **state) {
    (void)state;
    gt_rng r = {g_seed ^ 0x7a4d};
    const uint64_t ns = g_full ? 20000 : 300, nt = g_full ? 30000 : 257;
    /* 61: an odd dimension, so resident tiles (dT + t0 * d floats) are only 4-byte aligned and
     * the GEMM's algorithm must be picked for that (the emulator refuses a misfit) */
    const size_t dims[2] = {61, 768};
    for (int di = g_full ? 1 : 0; di < 2; di++) {
        const size_t d = dims[di];
        lb_emb *s = wrap(gauss_rows(&r, ns, d), ns, d, "src");
        lb_emb *t = wrap(gauss_rows(&r, nt, d), nt, d, "tgt");
        lb_topk cf = {0}, cb = {0};
        double t0 = now_s();
        run_poisoned(lb_knn_backend_cpu(), s, t, 16, 2048, &cf, &cb);
        const double cpu_s = now_s() - t0;
        const int ks[3] = {1, 4, 16};
        const size_t blocks[3] = {g_full ? 2048 : 37, g_full ? 8192 : 64, g_full ? 3000 : 1000};
        for (int a = 0; a < 3; a++)
            for (int bi = 0; bi < 3; bi++)
                for (int cache = 0; cache < 2; cache++) {
                    if (g_full && cache == 1 && bi != 0) continue; /* streaming: one size */
                    setenv("LABSE_KNN_GPU_CACHE_MB", cache ? "0" : "4096", 1);
                    lb_topk gf = {0}, gb = {0};
                    t0 = now_s();
                    run_poisoned(gpu_be(), s, t, ks[a], blocks[bi], &gf, &gb);
                    const double gpu_s = now_s() - t0;
                    char what[128];
                    snprintf(what, sizeof what, "random d %zu k %d block %zu %s", d, ks[a],
                             blocks[bi], cache ? "streamed" : "resident");
                    size_t sw = compare_tables(&gf, &cf, s, t, 0, what);
                    sw += compare_tables(&gb, &cb, t, s, 0, what);
                    if (g_full || sw)
                        printf("%s: %.3f s GPU (%.3g pairs scored/s), CPU k=16 %.3f s; "
                               "near-tie swaps %zu\n", what, gpu_s,
                               (double)ns * (double)nt / gpu_s, cpu_s, sw);
                    lb_topk_free(&gf);
                    lb_topk_free(&gb);
                }
        unsetenv("LABSE_KNN_GPU_CACHE_MB");
        lb_topk_free(&cf);
        lb_topk_free(&cb);
        lb_emb_free(s);
        lb_emb_free(t);
    }
    /* k above the GPU's limit: a clear error, no crash */
    {
        lb_emb *s = wrap(gauss_rows(&r, 70, 8), 70, 8, "src");
        lb_emb *t = wrap(gauss_rows(&r, 70, 8), 70, 8, "tgt");
        lb_topk f, b;
        labse_error err = {0};
        lb_knn_params p = {65, 16, 0};
        assert_int_equal(lb_knn_run(gpu_be(), s, t, &p, &f, &b, &err), LABSE_E_UNSUPPORTED);
        assert_non_null(strstr(err.message, "k <= 64"));
        assert_null(f.sim);
        lb_emb_free(s);
        lb_emb_free(t);
    }
}

/* ==========================================================================================
 * mine_e2e
 * ========================================================================================== */

static void mine_compare(const lb_emb *s, const lb_emb *t, int k, size_t block, int exact) {
    lb_topk cf, cb, gf, gb;
    labse_error err = {0};
    int ku = 0;
    assert_int_equal(lb_knn_mine_run_on(NULL, s, t, k, block, 0, &ku, &cf, &cb, &err), LABSE_OK);
    assert_int_equal(lb_knn_mine_run_on(gpu_be(), s, t, k, block, 0, &ku, &gf, &gb, &err),
                     LABSE_OK);
    for (int m = LB_MARGIN_RATIO; m <= LB_MARGIN_ABSOLUTE; m++)
        for (int rt = LB_RETR_FORWARD; rt <= LB_RETR_MAX; rt++) {
            lb_pair *pc = NULL, *pg = NULL;
            size_t nc = 0, ng = 0;
            assert_int_equal(lb_mine_pairs(&cf, &cb, (lb_margin)m, (lb_retrieval)rt, -INFINITY,
                                           &pc, &nc, &err), LABSE_OK);
            assert_int_equal(lb_mine_pairs(&gf, &gb, (lb_margin)m, (lb_retrieval)rt, -INFINITY,
                                           &pg, &ng, &err), LABSE_OK);
            /* max/intersect could differ in count only through a near-tie changing a best */
            if (exact || rt == LB_RETR_FORWARD || rt == LB_RETR_BACKWARD)
                assert_int_equal(nc, ng);
            size_t n = nc < ng ? nc : ng, diff = 0;
            for (size_t i = 0; i < n; i++) {
                if (!(fabs(pc[i].score - pg[i].score) <= TOL_SCORE))
                    fail_msg("%s/%s k %d: pair %zu: CPU %.9g, GPU %.9g", lb_margin_name(m),
                             lb_retrieval_name(rt), k, i, pc[i].score, pg[i].score);
                if (pc[i].src != pg[i].src || pc[i].tgt != pg[i].tgt) diff++;
            }
            if (exact) assert_int_equal(diff, 0);
            /* random data: identical up to a rare near-tie (none expected at small sizes) */
            if (diff > n / 1000 + (nc != ng))
                fail_msg("%s/%s k %d: %zu of %zu pairs differ", lb_margin_name(m),
                         lb_retrieval_name(rt), k, diff, n);
            if (diff || nc != ng)
                printf("mine %s/%s k %d: %zu pairs differ by a near-tie (%zu vs %zu)\n",
                       lb_margin_name(m), lb_retrieval_name(rt), k, diff, nc, ng);
            free(pc);
            free(pg);
        }
    lb_topk_free(&cf);
    lb_topk_free(&cb);
    lb_topk_free(&gf);
    lb_topk_free(&gb);
}

static void test_mine_e2e(void **state) {
    (void)state;
    gt_rng r = {g_seed ^ 0x313e};
    const uint64_t ns = g_full ? 5000 : 230, nt = g_full ? 7000 : 199;
    const size_t d = g_full ? 768 : 64;
    float *x = gauss_rows(&r, ns, d), *y = gauss_rows(&r, nt, d);
    for (uint64_t i = 0; i < nt / 2; i++) /* translations: target i = source i + noise */
        for (size_t j = 0; j < d; j++) y[i * d + j] = x[i * d + j] + 0.5f * gt_normal(&r);
    lb_emb *s = wrap(x, ns, d, "src");
    lb_emb *t = wrap(y, nt, d, "tgt");
    mine_compare(s, t, 4, g_full ? 2048 : 50, 0);
    mine_compare(s, t, 1, g_full ? 1000 : 64, 0);
    lb_emb_free(s);
    lb_emb_free(t);
    s = wrap(dyadic_rows(&r, ns, d), ns, d, "src");
    t = wrap(dyadic_rows(&r, nt, d), nt, d, "tgt");
    mine_compare(s, t, 4, g_full ? 2048 : 50, 1);
    lb_emb_free(s);
    lb_emb_free(t);
}

/* ==========================================================================================
 * cli
 * ========================================================================================== */

static void write_npy(const char *path, const float *x, uint64_t n, size_t d) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%"
                       PRIu64 ", %zu), }", n, d);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    assert_int_equal(fwrite(x, sizeof(float), (size_t)n * d, f), (size_t)n * d);
    assert_int_equal(fclose(f), 0);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void test_cli(void **state) {
    (void)state;
    if (!g_cli) {
        printf("no LABSE_CLI argument: CLI case skipped\n");
        return;
    }
    gt_rng r = {g_seed ^ 0xc11};
    const uint64_t ns = g_full ? 10000 : 180, nt = g_full ? 12000 : 150;
    const size_t d = g_full ? 768 : 32;
    char dir[] = "/tmp/labse_gpu_knn_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[256], b[256], oc[256], og[256], cmd[2048];
    snprintf(a, sizeof a, "%s/A.npy", dir);
    snprintf(b, sizeof b, "%s/B.npy", dir);
    snprintf(oc, sizeof oc, "%s/cpu.tsv", dir);
    snprintf(og, sizeof og, "%s/cuda.tsv", dir);
    float *x = gauss_rows(&r, ns, d), *y = gauss_rows(&r, nt, d);
    for (uint64_t i = 0; i < nt / 2; i++) /* some real translations */
        for (size_t j = 0; j < d; j++) y[i * d + j] = x[i * d + j] + 0.3f * gt_normal(&r);
    write_npy(a, x, ns, d);
    write_npy(b, y, nt, d);
    free(x);
    free(y);
    const char *dev[2] = {"cpu", "cuda"};
    const char *out[2] = {oc, og};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd, "'%s' mine --device %s --src-emb %s --tgt-emb %s -o %s -q "
                 "--block-rows %d", g_cli, dev[i], a, b, out[i], g_full ? 4096 : 40);
        if (system(cmd) != 0) fail_msg("failed: %s", cmd);
    }
    size_t lc, lg;
    char *fc = slurp(oc, &lc), *fg = slurp(og, &lg);
    if (lc != lg || memcmp(fc, fg, lc) != 0) {
        /* not byte-equal: the same pairs line by line, scores within TOL_SCORE */
        char *sc = NULL, *sg = NULL;
        char *l1 = strtok_r(fc, "\n", &sc), *l2 = strtok_r(fg, "\n", &sg);
        size_t lines = 0, diff = 0;
        while (l1 && l2) {
            double s1, s2;
            unsigned a1, b1, a2, b2;
            assert_int_equal(sscanf(l1, "%lf\t%u\t%u", &s1, &a1, &b1), 3);
            assert_int_equal(sscanf(l2, "%lf\t%u\t%u", &s2, &a2, &b2), 3);
            if (!(fabs(s1 - s2) <= TOL_SCORE)) fail_msg("line %zu: %s vs %s", lines + 1, l1, l2);
            if (a1 != a2 || b1 != b2) diff++;
            lines++;
            l1 = strtok_r(NULL, "\n", &sc);
            l2 = strtok_r(NULL, "\n", &sg);
        }
        assert_true(!l1 && !l2);
        printf("cli: files differ in bytes; %zu lines, %zu pairs differ by a near-tie\n", lines,
               diff);
        assert_true(diff <= lines / 1000);
    }
    free(fc);
    free(fg);
    /* a k the GPU search does not take: exit status 1 and a message, no crash */
    snprintf(cmd, sizeof cmd, "'%s' mine --device cuda --src-emb %s --tgt-emb %s -o %s -q -k 65 "
             "2>/dev/null", g_cli, a, b, og);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(int argc, char **argv) {
    g_full = argc > 1 && strcmp(argv[1], "full") == 0;
    g_cli = argc > 2 ? argv[2] : NULL;
    g_seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    printf("seed %" PRIu64 " (%s)\n", g_seed, g_full ? "full" : "small");
    gt_require_device();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_kernel),
        cmocka_unit_test(test_tables_ties),
        cmocka_unit_test(test_tables_random),
        cmocka_unit_test(test_mine_e2e),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
