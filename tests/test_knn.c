/* test_knn.c — the streaming top-k (src/mine/knn.h) equals a full sort, ties included; the blocked
 * k-NN equals a naive loop for every block size and thread count; margin scores and the
 * retrieval modes on a hand-made case; bad arguments. Label: unit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"

static uint64_t rng_state = 88172645463325252ull;
static uint32_t rnd(void) { /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 32);
}

typedef struct cand {
    float s;
    uint32_t i;
} cand;

static int cand_cmp(const void *a, const void *b) {
    const cand *p = a, *q = b;
    if (p->s != q->s) return p->s > q->s ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Streaming top-k over a random stream (values from a small set: many ties; offered in a
 * random order) equals the first k of a full sort by (score desc, index asc). */
static void test_topk_equals_sort(void **state) {
    (void)state;
    enum { N = 500 };
    cand c[N];
    for (int trial = 0; trial < 300; trial++) {
        int k = 1 + (int)(rnd() % 12), levels = 1 + (int)(rnd() % 20);
        for (uint32_t i = 0; i < N; i++) c[i] = (cand){(float)(rnd() % levels) / 4.0f, i};
        for (int i = N - 1; i > 0; i--) { /* shuffle the offering order */
            int j = (int)(rnd() % (uint32_t)(i + 1));
            cand t = c[i];
            c[i] = c[j];
            c[j] = t;
        }
        float sim[16];
        uint32_t idx[16];
        lb_topk_clear(sim, idx, k);
        for (int i = 0; i < N; i++) lb_topk_push(sim, idx, k, c[i].s, c[i].i);
        qsort(c, N, sizeof *c, cand_cmp);
        for (int j = 0; j < k; j++) {
            assert_true(sim[j] == c[j].s);
            assert_int_equal(idx[j], c[j].i);
        }
    }
}

/* Fewer offers than k: the rest stays empty (-inf, LB_KNN_EMPTY). */
static void test_topk_partial(void **state) {
    (void)state;
    float sim[4];
    uint32_t idx[4];
    lb_topk_clear(sim, idx, 4);
    lb_topk_push(sim, idx, 4, 0.5f, 9);
    lb_topk_push(sim, idx, 4, 0.5f, 3);
    assert_int_equal(idx[0], 3);
    assert_int_equal(idx[1], 9);
    assert_int_equal(idx[2], LB_KNN_EMPTY);
    assert_true(isinf(sim[3]) && sim[3] < 0);
}

/* Small-integer data (dot products exact, lots of ties) so the naive double loop and the
 * blocked float32 GEMM must agree exactly. Rows: ±1 entries, dim 16 (norm 4). */
static float *pm1(size_t rows, size_t d) {
    float *x = malloc(rows * d * sizeof *x);
    for (size_t i = 0; i < rows * d; i++) x[i] = (rnd() & 1) ? 1.0f : -1.0f;
    return x;
}

static void naive_knn(const float *a, size_t na, const float *b, size_t nb, size_t d, int k,
                      float *sim, uint32_t *idx) {
    cand *c = malloc(nb * sizeof *c);
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            double s = 0, n1 = 0, n2 = 0;
            for (size_t t = 0; t < d; t++) {
                s += (double)a[i * d + t] * b[j * d + t];
                n1 += (double)a[i * d + t] * a[i * d + t];
                n2 += (double)b[j * d + t] * b[j * d + t];
            }
            c[j] = (cand){(float)(s / sqrt(n1 * n2)), (uint32_t)j};
        }
        qsort(c, nb, sizeof *c, cand_cmp);
        for (int j = 0; j < k; j++) {
            sim[i * k + j] = c[j].s;
            idx[i * k + j] = c[j].i;
        }
    }
    free(c);
}

static void test_knn_blocked_equals_naive(void **state) {
    (void)state;
    const size_t d = 16, ns = 37, nt = 53;
    float *a = pm1(ns, d), *b = pm1(nt, d);
    memcpy(b + 20 * d, a, 5 * d * sizeof *a); /* some exact matches */
    memcpy(b + 40 * d, b + 41 * d, d * sizeof *b); /* a duplicate target: 40 beats 41 */
    lb_emb *ea, *eb;
    assert_int_equal(lb_emb_wrap(a, ns, d, 1, "a", &ea, NULL), LABSE_OK);
    assert_int_equal(lb_emb_wrap(b, nt, d, 1, "b", &eb, NULL), LABSE_OK);
    assert_int_equal(lb_emb_validate(ea, 0, NULL), LABSE_OK);
    const int ks[] = {1, 4, 9, 37};
    const size_t blocks[] = {1, 2, 5, 16, 64, 4096};
    const int threads[] = {1, 2, 3};
    for (size_t ki = 0; ki < 4; ki++) {
        int k = ks[ki];
        float *fs = malloc(ns * k * sizeof *fs), *bs = malloc(nt * k * sizeof *bs);
        uint32_t *fi = malloc(ns * k * sizeof *fi), *bi = malloc(nt * k * sizeof *bi);
        naive_knn(a, ns, b, nt, d, k, fs, fi);
        naive_knn(b, nt, a, ns, d, k, bs, bi);
        for (size_t bi_ = 0; bi_ < 6; bi_++)
            for (size_t ti = 0; ti < 3; ti++) {
                lb_knn_params p = {k, blocks[bi_], threads[ti]};
                lb_topk fwd, bwd;
                labse_error err;
                assert_int_equal(lb_knn_run(NULL, ea, eb, &p, &fwd, &bwd, &err), LABSE_OK);
                assert_memory_equal(fwd.idx, fi, ns * k * sizeof *fi);
                assert_memory_equal(bwd.idx, bi, nt * k * sizeof *bi);
                assert_memory_equal(fwd.sim, fs, ns * k * sizeof *fs);
                assert_memory_equal(bwd.sim, bs, nt * k * sizeof *bs);
                lb_topk_free(&fwd);
                lb_topk_free(&bwd);
            }
        free(fs);
        free(bs);
        free(fi);
        free(bi);
    }
    lb_emb_free(ea);
    lb_emb_free(eb);
}

/* Hand-made margin case (k = 2): checks the 2k denominator and the modes' definitions. */
static void test_margin_by_hand(void **state) {
    (void)state;
    /* forward: src0 → (t0 .8, t1 .6); src1 → (t0 .7, t1 .5)
     * backward: t0 → (s0 .8, s1 .7); t1 → (s0 .6, s1 .5) */
    float fs[] = {0.8f, 0.6f, 0.7f, 0.5f}, bs[] = {0.8f, 0.7f, 0.6f, 0.5f};
    uint32_t fi[] = {0, 1, 0, 1}, bi[] = {0, 1, 0, 1};
    lb_topk fwd = {2, 2, fs, fi}, bwd = {2, 2, bs, bi};
    /* means: s0 .7, s1 .6, t0 .75, t1 .55 */
    double r00 = 0.8f / ((0.7 + 0.75) / 2);
    double r10 = 0.7f / ((0.6 + 0.75) / 2);
    assert_true(fabs(lb_margin_score(LB_MARGIN_RATIO, 0.8f, 0.7, 0.75) - r00) < 1e-7);
    assert_true(fabs(lb_margin_score(LB_MARGIN_DISTANCE, 0.8f, 0.7, 0.75) -
                     (0.8f - (0.7 + 0.75) / 2)) < 1e-7);
    /* r00 = 1.1034 > r01 = .96; r10 = 1.037 > r11 = .8696 */
    lb_pair *p;
    size_t n;
    assert_int_equal(lb_mine_pairs(&fwd, &bwd, LB_MARGIN_RATIO, LB_RETR_FORWARD, -INFINITY, &p,
                                   &n, NULL),
                     LABSE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(p[0].src, 0);
    assert_int_equal(p[0].tgt, 0);
    assert_int_equal(p[1].src, 1);
    assert_int_equal(p[1].tgt, 0);
    assert_true(fabs(p[1].score - r10) < 1e-6);
    free(p);
    /* max: (0,0) r00, (1,0) r10, backward (0,0) r00, (0,1) r01 → keep (0,0), then (1,0) has a
     * used target, (0,1) a used source → one pair. */
    assert_int_equal(lb_mine_pairs(&fwd, &bwd, LB_MARGIN_RATIO, LB_RETR_MAX, -INFINITY, &p, &n,
                                   NULL),
                     LABSE_OK);
    assert_int_equal(n, 1);
    assert_true(fabs(p[0].score - r00) < 1e-6);
    free(p);
    /* intersect: fwd (0,0) ok (bwd best of t0 is s0), (1,0) not. */
    assert_int_equal(lb_mine_pairs(&fwd, &bwd, LB_MARGIN_RATIO, LB_RETR_INTERSECT, -INFINITY,
                                   &p, &n, NULL),
                     LABSE_OK);
    assert_int_equal(n, 1);
    free(p);
    /* threshold above everything: no pairs, NULL array */
    assert_int_equal(lb_mine_pairs(&fwd, &bwd, LB_MARGIN_RATIO, LB_RETR_BACKWARD, 5.0, &p, &n,
                                   NULL),
                     LABSE_OK);
    assert_int_equal(n, 0);
    assert_null(p);
}

static void test_bad_args(void **state) {
    (void)state;
    float a[8] = {1, 0, 0, 1, 1, 1, 0, 0}, b[6] = {1, 0, 0, 0, 1, 0};
    lb_emb *ea, *eb;
    assert_int_equal(lb_emb_wrap(a, 4, 2, 0, "a", &ea, NULL), LABSE_OK);
    assert_int_equal(lb_emb_wrap(b, 2, 3, 0, "b", &eb, NULL), LABSE_OK);
    lb_topk f, g;
    labse_error err;
    lb_knn_params p = {1, 16, 1};
    assert_int_equal(lb_knn_run(NULL, ea, eb, &p, &f, &g, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "dimension"));
    assert_null(f.sim);
    /* zero row (row 3 of a) */
    assert_int_equal(lb_emb_validate(ea, 1, &err), LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "row 3"));
    a[7] = NAN;
    a[6] = 1;
    assert_int_equal(lb_emb_validate(ea, 2, &err), LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "row 3"));
    assert_non_null(strstr(err.message, "non-finite"));
    lb_emb_free(ea);
    lb_emb_free(eb);
    assert_int_equal(lb_emb_wrap(a, 2, 2, 0, "a", &ea, NULL), LABSE_OK);
    assert_int_equal(lb_emb_wrap(a, 1, 2, 0, "a1", &eb, NULL), LABSE_OK);
    p.k = 2; /* k above the smaller side: refused here (the CLI clamps first) */
    assert_int_equal(lb_knn_run(NULL, ea, eb, &p, &f, &g, &err), LABSE_E_INVALID);
    lb_emb_free(ea);
    lb_emb_free(eb);
    assert_int_equal(lb_emb_open("/nonexistent/x.npy", &ea, &err), LABSE_E_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_equals_sort),
        cmocka_unit_test(test_topk_partial),
        cmocka_unit_test(test_knn_blocked_equals_naive),
        cmocka_unit_test(test_margin_by_hand),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
