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
 * residual; and lb_gemm_fp8_q (E4M3 output with a static scale, bias + GELU, values up to twice
 * the saturation point; T 37 with one activation scale for all tokens, filled by
 * lb_fp8_fill_scale), its tolerance in codes derived at run_case_q. Both routes must agree with
 * the oracle; on the emulator they must agree with each
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
#include "quant_fp8.cuh"

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

/* A case's operands on the host and the device. sx: per token, or (per_tensor) one value for
 * every token, the device vector filled by lb_fp8_fill_scale as a caller with a static
 * activation scale does. */
typedef struct operands {
    int T;
    uint8_t *w, *x;
    float sw[N], *sx;
    lb_half b[N];
    void *dw, *dsw, *db, *dx;
    float *dsx, *dacc;
    lb_gpu_linear lin;
} operands;

static void operands_make(operands *o, int T, int per_tensor) {
    memset(o, 0, sizeof *o);
    o->T = T;
    o->w = malloc((size_t)N * K), o->x = malloc((size_t)T * K), o->sx = malloc(sizeof *o->sx * (size_t)T);
    for (int i = 0; i < N * K; i++) o->w[i] = code();
    for (int i = 0; i < T * K; i++) o->x[i] = code();
    for (int n = 0; n < N; n++)
        o->sw[n] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -9), o->b[n] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
    const float one = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -8);
    for (int t = 0; t < T; t++) o->sx[t] = per_tensor ? one : ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -8);
    o->dw = gt_upload(o->w, (size_t)N * K), o->dsw = gt_upload(o->sw, sizeof o->sw), o->db = gt_upload(o->b, sizeof o->b);
    o->dx = gt_upload(o->x, (size_t)T * K);
    if (per_tensor) {
        o->dsx = gt_dev_alloc(sizeof(float) * (size_t)T);
        GT_CUDA(lb_fp8_fill_scale(o->dsx, T, one, 0));
    } else {
        o->dsx = gt_upload(o->sx, sizeof *o->sx * (size_t)T);
    }
    o->dacc = gt_dev_alloc(sizeof(float) * (size_t)T * N);
    const lb_gpu_linear lin = {.in = K, .out = N, .w = NULL, .b = o->db, .w8 = o->dw, .s8 = o->dsw};
    o->lin = lin;
}

static void operands_free(operands *o) {
    void *bufs[] = {o->dw, o->dsw, o->db, o->dx, o->dsx, o->dacc};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) GT_CUDA(cudaFree(bufs[i]));
    free(o->w), free(o->x), free(o->sx);
}

/* The oracle of element (t, n): act(f · sum + r + b) in float64 over the exact E4M3 values;
 * *err: the bound on a GPU's fp32 evaluation before GELU (the comment at the top), times GELU's
 * largest slope 1.13. */
static double oracle(const operands *o, int t, int n, int gelu, double r, double *err) {
    double s = 0.0, mag = 0.0;
    for (int k = 0; k < K; k++) {
        const double p = (double)lb_e4m3_to_f32(o->x[(size_t)t * K + k]) * lb_e4m3_to_f32(o->w[(size_t)n * K + k]);
        s += p;
        mag += fabs(p);
    }
    const double f = (double)o->sw[n] * o->sx[t], pre = f * s + r + gt_f(o->b[n]);
    *err = 1.13 * (4.0 * (K + 4) * 0x1p-24 * f * mag + 4 * 0x1p-24 * (fabs(r) + fabs(gt_f(o->b[n]))));
    return gelu ? gelu_tanh_d(pre) : pre;
}

/* One case on both routes; returns after checking every element of both outputs. */
static void run_case(lb_gemm *g, int T, int gelu, int resid) {
    operands o;
    operands_make(&o, T, 0);
    lb_half *y0 = malloc(sizeof *y0 * (size_t)T * N), *y[2];
    for (int i = 0; i < T * N; i++) y0[i] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
    for (int route = 0; route < 2; route++) {
        lb_half *dy = gt_upload(y0, sizeof *y0 * (size_t)T * N);
        labse_error e;
        memset(&e, 0, sizeof e);
        lb_gemm_fp8_mode(g, route);
        const uint64_t fb0 = lb_gemm_fp8_fallbacks(g);
        const labse_status st = lb_gemm_fp8(g, &o.lin, o.dx, o.dsx, T, resid ? dy : NULL, gelu, dy, o.dacc, 0, &e);
        if (st != LABSE_OK) fail_msg("T %d gelu %d resid %d route %d: %s", T, gelu, resid, route, e.message);
        if (route == 1) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0 + 1);
        else if (gt_is_emu()) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0); /* EMU ONLY */
        y[route] = malloc(sizeof *y0 * (size_t)T * N);
        gt_download(y[route], dy, sizeof *y0 * (size_t)T * N);
        GT_CUDA(cudaFree(dy));
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                double err;
                const double ref = oracle(&o, t, n, gelu, resid ? gt_f(y0[(size_t)t * N + n]) : 0.0, &err);
                const double tol = err + 0x1p-11 * fabs(ref) + 0x1p-25;
                const double got = gt_f(y[route][(size_t)t * N + n]);
                if (!(fabs(got - ref) <= tol))
                    fail_msg("T %d gelu %d resid %d route %d: y[%d, %d] = %.6g, expected %.6g (tol %.2g)", T, gelu,
                             resid, route, t, n, got, ref, tol);
            }
    }
    if (gt_is_emu()) assert_memory_equal(y[0], y[1], sizeof *y0 * (size_t)T * N); /* EMU ONLY */
    operands_free(&o);
    free(y0), free(y[0]), free(y[1]);
}

/* lb_gemm_fp8_q on both routes, bias + GELU, E4M3 output with d_inv chosen so that every value
 * above half the largest saturates. Expected code: E4M3(v · d_inv), v the oracle. A route's v
 * differs from the oracle by its fp32 evaluation: the accumulation bound `err` (oracle()), GELU's
 * own fp32 arithmetic (the cubic, tanhf's few ulps, three products: <= 8 2^-24 |v| + 2^-60, the
 * last for v near 0), and the product v · d_inv one more 2^-24. So the code must lie between the
 * codes of the ends of [v - tol, v + tol] · d_inv: the same code as the oracle's, or the neighbour
 * only where a rounding boundary (a midpoint between codes, or 464 for saturation) falls inside
 * that interval. The relative part of tol (~2^-20) is far narrower than a code step (2^-4
 * relative), but the accumulation bound is absolute (K 2^-24 sum|p|): where the sum cancels to
 * near 0 it can exceed the step of the tiny result, and there the ends may lie two codes apart
 * (any code between them is accepted); that must stay rare (<= 2% + 1 of a case's elements;
 * measured: 3 of the 8 016 on the emulator). Saturation: codes at ±448 are checked the same way
 * (E4M3 of the ends saturates too). A scale applied before GELU, or not at all, or a wrong
 * rounding, misses by many codes. */
static void run_case_q(lb_gemm *g, int T, int per_tensor) {
    operands o;
    operands_make(&o, T, per_tensor);
    double *ref = malloc(sizeof *ref * (size_t)T * N), *err = malloc(sizeof *err * (size_t)T * N), amax = 0.0;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            const size_t i = (size_t)t * N + n;
            ref[i] = oracle(&o, t, n, 1, 0.0, &err[i]);
            amax = fmax(amax, fabs(ref[i]));
        }
    const float d_inv = (float)(448.0 / (0.5 * amax));
    float *dd = gt_upload(&d_inv, sizeof d_inv);
    uint8_t *y[2];
    for (int route = 0; route < 2; route++) {
        uint8_t *dy = gt_dev_alloc((size_t)T * N);
        labse_error e;
        memset(&e, 0, sizeof e);
        lb_gemm_fp8_mode(g, route);
        const uint64_t fb0 = lb_gemm_fp8_fallbacks(g);
        const labse_status st = lb_gemm_fp8_q(g, &o.lin, o.dx, o.dsx, T, 1, dy, dd, o.dacc, 0, &e);
        if (st != LABSE_OK) fail_msg("fp8 out T %d route %d: %s", T, route, e.message);
        if (route == 1) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0 + 1);
        else if (gt_is_emu()) assert_int_equal(lb_gemm_fp8_fallbacks(g), fb0); /* EMU ONLY */
        y[route] = malloc((size_t)T * N);
        gt_download(y[route], dy, (size_t)T * N);
        GT_CUDA(cudaFree(dy));
        int sat = 0, exact = 0, wide = 0;
        for (size_t i = 0; i < (size_t)T * N; i++) {
            const double tol = err[i] + 8 * 0x1p-24 * fabs(ref[i]) + 0x1p-60;
            const double lo = (ref[i] - tol) * d_inv * (1 - 0x1p-24), hi = (ref[i] + tol) * d_inv * (1 + 0x1p-24);
            int spread;
            const int in = gt_e4m3_within(y[route][i], lo, hi, &spread);
            wide += spread > 1;
            if (!in)
                fail_msg("fp8 out T %d route %d: y8[%zu] = 0x%02x (%g), expected E4M3(%.9g) = 0x%02x", T, route, i,
                         y[route][i], lb_e4m3_to_f32(y[route][i]), ref[i] * d_inv, gt_e4m3_out(ref[i] * d_inv, 0));
            sat += (y[route][i] & 0x7f) == 0x7e;
            exact += y[route][i] == gt_e4m3_out(ref[i] * d_inv, 0);
        }
        assert_true(sat > 0);                          /* the case reaches saturation */
        assert_true(exact >= (T * N * 9 + 9) / 10);   /* and is not all near-boundary luck */
        assert_true(wide <= T * N / 50 + 1);          /* cancellations only (see above) */
    }
    if (gt_is_emu()) assert_memory_equal(y[0], y[1], (size_t)T * N); /* EMU ONLY */
    GT_CUDA(cudaFree(dd));
    operands_free(&o);
    free(ref), free(err), free(y[0]), free(y[1]);
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
        run_case_q(g, Ts[i], i == 1); /* T 37: one activation scale for all tokens */
    }
    /* the kernel route without its fp32 scratch, and weights without fp8 codes: errors */
    const lb_gpu_linear none = {.in = K, .out = N};
    assert_int_equal(lb_gemm_fp8(g, &none, NULL, NULL, 4, NULL, 0, NULL, NULL, 0, &e), LABSE_E_CUDA);
    /* fp8 output without its scale or its buffer */
    const lb_gpu_linear w8 = {.in = K, .out = N, .w8 = (const uint8_t *)&e, .s8 = (const float *)&e};
    uint8_t y8;
    assert_int_equal(lb_gemm_fp8_q(g, &w8, NULL, NULL, 4, 1, &y8, NULL, NULL, 0, &e), LABSE_E_CUDA);
    assert_int_equal(lb_gemm_fp8_q(g, &w8, NULL, NULL, 4, 1, NULL, (const float *)&e, NULL, 0, &e), LABSE_E_CUDA);
    lb_gemm_free(g);
}

int main(void) {
    gt_require_device();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gemm_fp8)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
