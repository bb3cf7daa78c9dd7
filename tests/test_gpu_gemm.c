/* test_gpu_gemm.c — the encoder's cuBLASLt GEMMs (src/gpu/gpu_gemm.c) against a float64
 * oracle: y = act(x Wᵀ + b) (+ y), the bucketed algorithm cache, buffer alignment.
 *
 * Usage: test_gpu_gemm   (emulator: label emu; real GPU: label gpu; exits 77 without a device)
 *
 * Cases: T in {1, 37, 100, 110, 129, 200} tokens, N = 48 outputs, K = 40 inputs, fp16 data in
 * [-1, 1): plain (bias epilogue), GELU (cuBLASLt's tanh form, GELU_BIAS), residual (beta 1,
 * in place); x 2 bytes past an aligned start (the algorithm must be picked for that: the
 * emulator refuses a misfit). 100 and 110 share a bucket: the second makes no heuristic query.
 *
 * Tolerance per element: fp32 accumulation of K products and 2 more terms, (K + 2) 2^-24
 * sum|terms|, x4 for other summation orders on a GPU, times GELU's largest slope (1.13); then
 * the fp16 rounding of the output, 2^-11 relative (+ 2^-25 absolute in the subnormal range).
 * The same bound tests/test_emu.cu uses for cuBLASLt; a wrong bias, activation, residual or
 * column count is off by ~0.1..1, far above it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/gpu_internal.h"
#include "gpu_test_util.h"

enum { N = 48, K = 40, TMAX = 200 };

static gt_rng g_rng = {0x6e33};

static double gelu_tanh_d(double v) {
    return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

static void fill(lb_half *h, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
}

/* One case: returns after checking every element of y [T, N]. x_off: x starts x_off halves
 * past an aligned allocation. */
static void run_case(lb_gemm *g, int T, int gelu, int resid, int x_off) {
    lb_half *w = malloc(sizeof *w * N * K), *b = malloc(sizeof *b * N);
    lb_half *x = malloc(sizeof *x * (size_t)T * K), *y0 = malloc(sizeof *y0 * (size_t)T * N);
    lb_half *y = malloc(sizeof *y * (size_t)T * N);
    fill(w, (size_t)N * K);
    fill(b, N);
    fill(x, (size_t)T * K);
    fill(y0, (size_t)T * N);
    lb_half *dw = gt_upload(w, sizeof *w * N * K), *db = gt_upload(b, sizeof *b * N);
    lb_half *dxa = gt_dev_alloc(sizeof *x * ((size_t)T * K + (size_t)x_off)), *dx = dxa + x_off;
    lb_half *dy = gt_upload(y0, sizeof *y0 * (size_t)T * N);
    GT_CUDA(cudaMemcpy(dx, x, sizeof *x * (size_t)T * K, cudaMemcpyHostToDevice));
    const lb_gpu_linear lin = {.in = K, .out = N, .w = dw, .b = db};
    labse_error e;
    memset(&e, 0, sizeof e);
    const labse_status st = lb_gemm_run(g, &lin, dx, T, resid ? dy : NULL, gelu, dy, 0, &e);
    if (st != LABSE_OK) fail_msg("T %d gelu %d resid %d x_off %d: %s", T, gelu, resid, x_off, e.message);
    gt_download(y, dy, sizeof *y * (size_t)T * N);
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double s = gt_f(b[n]), mag = fabs(gt_f(b[n]));
            for (int k = 0; k < K; k++) {
                const double p = (double)gt_f(x[(size_t)t * K + k]) * gt_f(w[(size_t)n * K + k]);
                s += p;
                mag += fabs(p);
            }
            if (resid) s += gt_f(y0[(size_t)t * N + n]), mag += fabs(gt_f(y0[(size_t)t * N + n]));
            const double ref = gelu ? gelu_tanh_d(s) : s;
            const double tol = 1.13 * 4.0 * (K + 2) * 0x1p-24 * mag + 0x1p-11 * fabs(ref) + 0x1p-25;
            const double got = gt_f(y[(size_t)t * N + n]);
            if (!(fabs(got - ref) <= tol))
                fail_msg("T %d gelu %d resid %d x_off %d: y[%d, %d] = %.6g, expected %.6g (tol %.2g)",
                         T, gelu, resid, x_off, t, n, got, ref, tol);
        }
    GT_CUDA(cudaFree(dw));
    GT_CUDA(cudaFree(db));
    GT_CUDA(cudaFree(dxa));
    GT_CUDA(cudaFree(dy));
    free(w), free(b), free(x), free(y0), free(y);
}

/* lb_gpu_bucket: >= T, at most 12.5% (or 64) above it, idempotent, monotone, few values. */
static void test_bucket(void **state) {
    (void)state;
    int distinct = 0, prev = 0;
    for (int T = 1; T <= 20000; T++) {
        const int b = lb_gpu_bucket(T);
        assert_true(b >= T);
        assert_true(b - T < (T / 8 > 64 ? T / 8 : 64));
        assert_int_equal(lb_gpu_bucket(b), b);
        assert_true(b >= prev);
        if (b != prev) distinct++;
        prev = b;
    }
    printf("  %d buckets for T in 1..20000\n", distinct);
    assert_true(distinct <= 8 * 9);
}

static void test_gemm(void **state) {
    (void)state;
    lb_gemm *g = NULL;
    labse_error e;
    assert_int_equal(lb_gemm_new(0, &g, &e), LABSE_OK);
    static const int Ts[] = {1, 37, 100, 129, 200};
    for (size_t i = 0; i < sizeof Ts / sizeof *Ts; i++)
        for (int gelu = 0; gelu < 2; gelu++)
            for (int resid = 0; resid < 2; resid++)
                if (!(gelu && resid)) run_case(g, Ts[i], gelu, resid, 0);
    /* 110 is in 100's bucket: no new heuristic query, and the layouts follow T */
    const int q = lb_gemm_queries(g);
    run_case(g, 110, 0, 0, 0);
    run_case(g, 100, 0, 0, 0);
    assert_int_equal(lb_gemm_queries(g), q);
    /* x 2 bytes past an aligned start: an algorithm picked for that alignment */
    run_case(g, 37, 0, 0, 1);
    run_case(g, 129, 1, 0, 1);
    /* a residual that is not the output is refused */
    {
        lb_half *d = gt_dev_alloc(sizeof(lb_half) * N * K * 4);
        const lb_gpu_linear lin = {.in = K, .out = N, .w = d, .b = NULL};
        assert_int_equal(lb_gemm_run(g, &lin, d, 2, d + N * K, 0, d + 2 * N * K, 0, &e),
                         LABSE_E_CUDA);
        GT_CUDA(cudaFree(d));
    }
    lb_gemm_free(g);
}

int main(void) {
    gt_require_device();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bucket), cmocka_unit_test(test_gemm)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
