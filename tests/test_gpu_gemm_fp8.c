/* test_gpu_gemm_fp8.c — lb_gemm_fp8 (src/gpu/gpu_gemm.c): the fp8 GEMM of precision fp8,
 * y = act(sx ⊗ s8 · (xq · w8ᵀ) + b) (+ y), through both routes (cuBLASLt's outer-vector scales;
 * the unscaled fp8 GEMM into fp32 + lb_fp8_dequant) against a float64 oracle over the exact
 * E4M3 values.
 *
 * Usage: test_gpu_gemm_fp8   (emulator: label emu; real GPU: label gpu; exits 77 without a device)
 *
 * Cases: T in {1, 37, 129} tokens, N = 48 outputs, K = 64 inputs (FP8 wants 16-byte leading
 * dimensions), random E4M3 codes for weights and activations (no NaN), weight scales ~2^-9 a
 * channel, token scales ~2^-8, fp16 bias and residual in [-1, 1): plain, GELU (tanh form),
 * residual. Both routes must agree with the oracle; on the emulator they must agree with each
 * other bit for bit (the same fp32 sums, the same order of the scale products), and the
 * outer-vector route must not fall back (the emulator always has an algorithm).
 *
 * Tolerance per element: the products of E4M3 values are exact in fp32; the fp32 sum of K of
 * them errs by <= K 2^-24 sum|p| (x4 for other summation orders on a GPU); the two scale
 * products, the residual and the bias 4 more roundings of their terms; GELU's slope <= 1.13;
 * then the fp16 rounding of y, 2^-11 relative + 2^-25 absolute. A wrong scale (per-tensor for
 * per-row, the two vectors swapped), bias, activation or residual is off by far more. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/fp8.h"
#include "gpu/gpu_internal.h"
#include "gpu_test_util.h"

enum { N = 48, K = 64, TMAX = 129 };

static gt_rng g_rng = {0xf8e4};

static double gelu_tanh_d(double v) {
    return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

static uint8_t code(void) {
    uint8_t c;
    do c = (uint8_t)gt_next(&g_rng);
    while ((c & 0x7f) == 0x7f);
    return c;
}

/* One case on both routes; returns after checking every element of both outputs. */
static void run_case(lb_gemm *g, int T, int gelu, int resid) {
    uint8_t *w = malloc((size_t)N * K), *x = malloc((size_t)T * K);
    float sw[N], *sx = malloc(sizeof *sx * (size_t)T);
    lb_half b[N], *y0 = malloc(sizeof *y0 * (size_t)T * N), *y[2];
    for (int i = 0; i < N * K; i++) w[i] = code();
    for (int i = 0; i < T * K; i++) x[i] = code();
    for (int n = 0; n < N; n++) sw[n] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -9), b[n] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
    for (int t = 0; t < T; t++) sx[t] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -8);
    for (int i = 0; i < T * N; i++) y0[i] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
    void *dw = gt_upload(w, (size_t)N * K), *dsw = gt_upload(sw, sizeof sw), *db = gt_upload(b, sizeof b);
    void *dx = gt_upload(x, (size_t)T * K), *dsx = gt_upload(sx, sizeof *sx * (size_t)T);
    float *dacc = gt_dev_alloc(sizeof(float) * (size_t)T * N);
    const lb_gpu_linear lin = {.in = K, .out = N, .w = NULL, .b = db, .w8 = dw, .s8 = dsw};
    for (int route = 0; route < 2; route++) {
        lb_half *dy = gt_upload(y0, sizeof *y0 * (size_t)T * N);
        labse_error e;
        memset(&e, 0, sizeof e);
        lb_gemm_fp8_mode(g, route);
        const uint64_t fb0 = lb_gemm_fp8_fallbacks(g);
        const labse_status st = lb_gemm_fp8(g, &lin, dx, dsx, T, resid ? dy : NULL, gelu, dy, dacc, 0, &e);
        if (st != LABSE_OK) fail_msg("T %d gelu %d resid %d route %d: %s", T, gelu, resid, route, e.message);
        if (route == 1) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0 + 1);
        else if (gt_is_emu()) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0); /* EMU ONLY */
        y[route] = malloc(sizeof *y0 * (size_t)T * N);
        gt_download(y[route], dy, sizeof *y0 * (size_t)T * N);
        GT_CUDA(cudaFree(dy));
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double s = 0.0, mag = 0.0;
                for (int k = 0; k < K; k++) {
                    const double p = (double)lb_e4m3_to_f32(x[(size_t)t * K + k]) * lb_e4m3_to_f32(w[(size_t)n * K + k]);
                    s += p;
                    mag += fabs(p);
                }
                const double f = (double)sw[n] * sx[t], r = resid ? gt_f(y0[(size_t)t * N + n]) : 0.0;
                const double pre = f * s + r + gt_f(b[n]);
                const double ref = gelu ? gelu_tanh_d(pre) : pre;
                const double tol = 1.13 * (4.0 * (K + 4) * 0x1p-24 * f * mag + 4 * 0x1p-24 * (fabs(r) + fabs(gt_f(b[n])))) +
                                   0x1p-11 * fabs(ref) + 0x1p-25;
                const double got = gt_f(y[route][(size_t)t * N + n]);
                if (!(fabs(got - ref) <= tol))
                    fail_msg("T %d gelu %d resid %d route %d: y[%d, %d] = %.6g, expected %.6g (tol %.2g)", T, gelu,
                             resid, route, t, n, got, ref, tol);
            }
    }
    if (gt_is_emu()) assert_memory_equal(y[0], y[1], sizeof *y0 * (size_t)T * N); /* EMU ONLY */
    GT_CUDA(cudaFree(dw));
    GT_CUDA(cudaFree(dsw));
    GT_CUDA(cudaFree(db));
    GT_CUDA(cudaFree(dx));
    GT_CUDA(cudaFree(dsx));
    GT_CUDA(cudaFree(dacc));
    free(w), free(x), free(sx), free(y0), free(y[0]), free(y[1]);
}

static void test_gemm_fp8(void **state) {
    (void)state;
    lb_gemm *g = NULL;
    labse_error e;
    memset(&e, 0, sizeof e);
    assert_int_equal(lb_gemm_new(0, &g, &e), LABSE_OK);
    const int Ts[] = {1, 37, 129};
    for (int i = 0; i < 3; i++) {
        run_case(g, Ts[i], 0, 0);
        run_case(g, Ts[i], 1, 0);
        run_case(g, Ts[i], 0, 1);
    }
    /* the kernel route without its fp32 scratch, and weights without fp8 codes: errors */
    const lb_gpu_linear none = {.in = K, .out = N};
    assert_int_equal(lb_gemm_fp8(g, &none, NULL, NULL, 4, NULL, 0, NULL, NULL, 0, &e), LABSE_E_CUDA);
    lb_gemm_free(g);
}

int main(void) {
    gt_require_device();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gemm_fp8)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
