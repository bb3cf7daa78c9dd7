/* test_fp8.cu — FP8 E4M3: the conversions (the emulator's cuda_fp8.h model, device code, and the
 * host's src/base/fp8.c) against a nearest-value search over the 254 finite codes, and the
 * emulated cuBLASLt FP8 matmul (TN, per-tensor and outer-vector scales, fp16/fp32 output, bias,
 * GELU, beta·C; E4M3 output with D_SCALE_POINTER, checked in codes) against a double-precision
 * reference; the kernels of kernels/quant_fp8.cu (lb_fp8_dequant and its E4M3 form
 * lb_fp8_dequant_q, lb_fp8_fill_scale) and the LayerNorm's fp8 output (kernels/layernorm.cu)
 * against the row-scale definition computed on the host with src/base/fp8.c (bit for bit: one
 * fp32 product, then one rounding). Compiled as C++ over the emulator (label emu) and by nvcc
 * (label gpu: the same checks then compare the model with the hardware).
 * Checks marked EMU ONLY cover what only the emulator defines (its switch for "no outer-vector
 * algorithm", its refusals). Tolerances are derived next to each check. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include <cmocka.h>

#include "base/fp8.h"
#include "base/half.h"
}
#include "gpu_test_util.h"
#include "layernorm.cuh"
#include "quant_fp8.cuh"
#ifdef __CUDACC__
#include <cuda_fp8.h>
#endif

static gt_rng g_rng = {0xf8f8f8ull};

/* ---- the reference: the nearest finite code by search ---- */

/* Value of a code, by its definition (sign, 4-bit exponent biased 7, 3-bit mantissa). */
static double ref_value(int c) {
    const int e = (c >> 3) & 15, m = c & 7;
    const double v = e ? (1.0 + m / 8.0) * pow(2.0, e - 7) : m / 8.0 * pow(2.0, -6);
    return (c & 0x80) ? -v : v;
}
static int ref_is_nan(int c) { return (c & 0x7f) == 0x7f; }

/* SATFINITE, ties to even: the finite code nearest x; at a tie the one with mantissa bit 0;
 * beyond ±448 the extreme; the sign of a zero result is x's. NaN → 0x7F. */
static int ref_encode(double x) {
    if (x != x) return 0x7f;
    const int s = signbit(x) ? 0x80 : 0;
    const double a = fabs(x);
    int best = 0;
    double bd = INFINITY;
    for (int c = 0; c <= 0x7e; c++) {
        const double d = fabs(ref_value(c) - a);
        if (d < bd || (d == bd && !(c & 1))) bd = d, best = c;
    }
    return s | best;
}

/* The floats whose rounding matters: every code's value, the midpoints between neighbours
 * (ties), one float ulp either side of each midpoint, and the edges (448..480, 2^-10, inf). */
static int probe_values(float *out, int cap) {
    int n = 0;
    for (int c = 0; c <= 0x7e; c++) {
        const float v = (float)ref_value(c);
        out[n++] = v;
        const float mid = (float)((ref_value(c) + (c < 0x7e ? ref_value(c + 1) : 480.0)) / 2.0);
        out[n++] = mid;
        out[n++] = nextafterf(mid, 0.0f);
        out[n++] = nextafterf(mid, INFINITY);
    }
    const float edges[] = {448.0f, 449.0f, 463.99f, 464.0f, 464.01f, 479.0f, 480.0f, 1e6f, INFINITY,
                           0x1p-10f, 0x1p-11f, 1e-30f, 0.0f};
    for (float e : edges) out[n++] = e;
    const int half = n;
    for (int i = 0; i < half && n < cap; i++) out[n++] = -out[i];
    return n;
}

/* ---- device code: the kernels' conversions on the GPU (or the emulator) ---- */

/* out[i] = the code of x[i] through __nv_fp8_e4m3's constructor (SATFINITE); back[i] = that code
 * widened to float through the type's conversion; cvt[i] = __nv_cvt_float_to_fp8(SATFINITE). */
static __global__ void k_convert(const float *x, int n, unsigned char *out, float *back, unsigned char *cvt) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const __nv_fp8_e4m3 q(x[i]);
    out[i] = q.__x;
    back[i] = (float)q;
    cvt[i] = __nv_cvt_float_to_fp8(x[i], __NV_SATFINITE, __NV_E4M3);
}

static void test_conversions(void **state) {
    (void)state;
    enum { CAP = 4096 };
    static float x[CAP];
    int n = probe_values(x, CAP);
    while (n < CAP) { /* and random floats over the whole range */
        const float m = gt_uniform(&g_rng, -1.0f, 1.0f);
        x[n++] = ldexpf(m, (int)(gt_next(&g_rng) % 30) - 18);
    }
    /* host: every code round-trips; every probe rounds as the reference says */
    int nan_codes = 0;
    for (int c = 0; c < 256; c++) {
        const float v = lb_e4m3_to_f32((uint8_t)c);
        if (ref_is_nan(c)) {
            assert_true(isnan(v));
            nan_codes++;
            continue;
        }
        assert_true(v == (float)ref_value(c));
        assert_int_equal(lb_f32_to_e4m3(v), c);
    }
    assert_int_equal(nan_codes, 2);
    for (int i = 0; i < n; i++) {
        const int want = ref_encode((double)x[i]), got = lb_f32_to_e4m3(x[i]);
        if (got != want) fprintf(stderr, "host e4m3(%.9g) = 0x%02x, want 0x%02x\n", x[i], got, want);
        assert_int_equal(got, want);
    }
    assert_int_equal(lb_f32_to_e4m3(NAN) & 0x7f, 0x7f);
    assert_int_equal(lb_f32_to_e4m3(-INFINITY), 0xfe); /* -448 */
    assert_int_equal(lb_f32_to_e4m3(0x1p-10f), 0x00); /* tie between 0 and 2^-9: even (0) */
    assert_int_equal(lb_f32_to_e4m3(3.0f * 0x1p-10f), 0x02); /* tie 1 and 2 steps: even (2) */
    assert_int_equal(lb_f32_to_e4m3(464.0f), 0x7e); /* tie 448 / 480: 448 (even mantissa 6) */
    assert_int_equal(lb_f32_to_e4m3(-0.0f), 0x80);

    /* device: the same probes through the kernel-side API */
    float *dx = (float *)gt_upload(x, sizeof x), *dback = (float *)gt_dev_alloc(sizeof x);
    unsigned char *dq = (unsigned char *)gt_dev_alloc(CAP), *dc = (unsigned char *)gt_dev_alloc(CAP);
    LB_LAUNCH(k_convert, (n + 127) / 128, 128, 0, 0, dx, n, dq, dback, dc);
    GT_CUDA(cudaGetLastError());
    static unsigned char q[CAP], cv[CAP];
    static float back[CAP];
    gt_download(q, dq, CAP);
    gt_download(cv, dc, CAP);
    gt_download(back, dback, sizeof back);
    for (int i = 0; i < n; i++) {
        const int want = ref_encode((double)x[i]);
        if (q[i] != want) fprintf(stderr, "device e4m3(%.9g) = 0x%02x, want 0x%02x\n", x[i], q[i], want);
        assert_int_equal(q[i], want);
        assert_int_equal(cv[i], want);
        assert_true(back[i] == (float)ref_value(want));
    }
    /* NaN: a NaN code (the canonical 0x7F on sm_89+; the sign is not specified here) */
    const float nan_in[2] = {NAN, -NAN};
    GT_CUDA(cudaMemcpy(dx, nan_in, sizeof nan_in, cudaMemcpyHostToDevice));
    LB_LAUNCH(k_convert, 1, 2, 0, 0, dx, 2, dq, dback, dc);
    gt_download(q, dq, 2);
    gt_download(back, dback, 2 * sizeof(float));
    assert_true(ref_is_nan(q[0]) && ref_is_nan(q[1]) && isnan(back[0]) && isnan(back[1]));
#ifdef LABSE_CUDA_EMU
    /* EMU ONLY: NOSAT as modelled (beyond 448 → NaN) */
    assert_int_equal(__nv_cvt_float_to_fp8(449.0f, __NV_NOSAT, __NV_E4M3), 0x7f);
    assert_int_equal(__nv_cvt_float_to_fp8(448.0f, __NV_NOSAT, __NV_E4M3), 0x7e);
#endif
    GT_CUDA(cudaFree(dx));
    GT_CUDA(cudaFree(dback));
    GT_CUDA(cudaFree(dq));
    GT_CUDA(cudaFree(dc));
}

/* ---- the FP8 matmul ---- */

/* A random E4M3 code spread over the range a quantised tensor uses (no NaN). */
static uint8_t rand_code(void) {
    uint8_t c;
    do c = (uint8_t)gt_next(&g_rng);
    while (ref_is_nan(c));
    return c;
}

/* sum_p a[p] b[p] over k E4M3 codes each, in double (exact: each product has <= 8 significant
 * bits, the sum stays far inside 53); *mag = sum_p |a[p] b[p]|. */
static double dot_ref(const uint8_t *a, const uint8_t *b, int k, double *mag) {
    double sum = 0.0;
    *mag = 0.0;
    for (int p = 0; p < k; p++) {
        const double t = ref_value(a[p]) * ref_value(b[p]);
        sum += t;
        *mag += fabs(t);
    }
    return sum;
}

static double gelu_tanh_d(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

/* D (m x n, fp16 or fp32) = alpha · sa ⊗ sb · (Aᵀ B) + beta · C (+ bias, GELU), A: k x m E4M3
 * (TN: op(A) = Aᵀ), B: k x n E4M3, vs double. outer: scales per row of D and per column of D,
 * else one each. Returns the cublasLtMatmul status (NOT_SUPPORTED: skipped, when allowed). */
static void fp8_case(cublasLtHandle_t h, int m, int n, int k, int outer, cudaDataType_t cd,
                     cublasLtEpilogue_t epi, float alpha, float beta) {
    const size_t es = cd == CUDA_R_32F ? 4 : 2;
    const int lda = k, ldb = k, ldd = m;
    uint8_t *A = (uint8_t *)malloc((size_t)lda * m), *B = (uint8_t *)malloc((size_t)ldb * n);
    for (int i = 0; i < lda * m; i++) A[i] = rand_code();
    for (int i = 0; i < ldb * n; i++) B[i] = rand_code();
    const int na = outer ? m : 1, nb = outer ? n : 1;
    float *sa = (float *)malloc(na * 4), *sb = (float *)malloc(nb * 4);
    for (int i = 0; i < na; i++) sa[i] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -12);
    for (int i = 0; i < nb; i++) sb[i] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -8);
    void *C = malloc((size_t)ldd * n * es), *D = malloc((size_t)ldd * n * es), *bias = malloc(m * es);
    for (int i = 0; i < ldd * n; i++) {
        const float v = gt_uniform(&g_rng, -2.0f, 2.0f);
        if (cd == CUDA_R_32F) ((float *)C)[i] = v;
        else ((lb_half *)C)[i] = gt_h(v);
    }
    for (int i = 0; i < m; i++) {
        const float v = gt_uniform(&g_rng, -1.0f, 1.0f);
        if (cd == CUDA_R_32F) ((float *)bias)[i] = v;
        else ((lb_half *)bias)[i] = gt_h(v);
    }
    void *dA = gt_upload(A, (size_t)lda * m), *dB = gt_upload(B, (size_t)ldb * n);
    void *dsa = gt_upload(sa, na * 4), *dsb = gt_upload(sb, nb * 4);
    void *dC = gt_upload(C, (size_t)ldd * n * es), *dbias = gt_upload(bias, m * es);
    void *dD = gt_dev_alloc((size_t)ldd * n * es);
    GT_CUDA(cudaMemset(dD, 0xff, (size_t)ldd * n * es));

    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    assert_int_equal(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), 0);
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), 0);
    const int has_bias = epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS;
    if (has_bias)
        assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias, sizeof dbias), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &dsa, sizeof dsa), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &dsb, sizeof dsb), 0);
    if (outer) {
        const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
        assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode), 0);
        assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode), 0);
    }
    assert_int_equal(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, lda), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, ldb), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lc, cd, m, n, ldd), 0);
    const cublasStatus_t ms = cublasLtMatmul(h, desc, &alpha, dA, la, dB, lb, &beta, dC, lc, dD, lc, NULL,
                                             NULL, 0, 0);
    if (gt_is_emu()) assert_int_equal(ms, CUBLAS_STATUS_SUCCESS); /* EMU ONLY: always an algorithm */
    if (ms != CUBLAS_STATUS_SUCCESS) {
        printf("  fp8 m=%d n=%d k=%d outer=%d epi=%d: %s (skipped)\n", m, n, k, outer, (int)epi,
               cublasLtGetStatusName(ms));
    } else {
        gt_download(D, dD, (size_t)ldd * n * es);
        for (int j = 0; j < n; j++)
            for (int i = 0; i < m; i++) {
                double mag;
                const double sum = dot_ref(A + (size_t)i * lda, B + (size_t)j * ldb, k, &mag);
                const double f = (double)alpha * sa[outer ? i : 0] * sb[outer ? j : 0];
                const double c = cd == CUDA_R_32F ? ((float *)C)[(size_t)j * ldd + i] : gt_f(((lb_half *)C)[(size_t)j * ldd + i]);
                const double b = !has_bias ? 0.0 : cd == CUDA_R_32F ? ((float *)bias)[i] : gt_f(((lb_half *)bias)[i]);
                double pre = f * sum + beta * c + b;
                const double ref = epi == CUBLASLT_EPILOGUE_GELU_BIAS ? gelu_tanh_d(pre) : pre;
                /* products of E4M3 values are exact in fp32 (4 x 4 significant bits); the fp32
                 * sum of k of them errs by <= k 2^-24 sum|t| (x4 for other orders on a GPU);
                 * three fp32 scale products 3 2^-24 relative; beta C and bias two more
                 * roundings; GELU's slope <= 1.13; then D's rounding (fp16 2^-11 relative +
                 * 2^-25 absolute, fp32 2^-24). */
                const double tol = 1.13 * (4.0 * (k + 5) * 0x1p-24 * fabs(f) * mag + 4 * 0x1p-24 * (fabs(c) + fabs(b))) +
                                   (cd == CUDA_R_32F ? 0x1p-24 * fabs(ref) : 0x1p-11 * fabs(ref) + 0x1p-25) + 1e-7;
                const double got = cd == CUDA_R_32F ? ((float *)D)[(size_t)j * ldd + i] : gt_f(((lb_half *)D)[(size_t)j * ldd + i]);
                if (fabs(got - ref) > tol)
                    fprintf(stderr, "fp8 m=%d n=%d k=%d outer=%d epi=%d D[%d,%d] = %.8g, ref %.8g, tol %.3g\n", m, n,
                            k, outer, (int)epi, i, j, got, ref, tol);
                assert_true(fabs(got - ref) <= tol);
            }
    }
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    void *bufs[] = {dA, dB, dsa, dsb, dC, dbias, dD};
    for (void *p : bufs) GT_CUDA(cudaFree(p));
    free(A), free(B), free(sa), free(sb), free(C), free(D), free(bias);
}

/* The FP8 matmul with an E4M3 D (C fp16, never read: beta 0), outer-vector scales, bias (fp16,
 * BIAS_DATA_TYPE set as for an fp8 D) and GELU, D_SCALE_POINTER = dscale:
 *     D[i][j] = E4M3_satfinite(GELU(sa[i] sb[j] (Aᵀ B)[i][j] + bias[i]) · dscale),
 * dscale chosen so every value above half the largest saturates. The code must lie between the
 * codes of [v - tol, v + tol] · dscale, v the double reference and tol the fp32 bound of
 * fp8_case (without D's rounding) plus GELU's own fp32 evaluation (<= 8 2^-24 |v| + 2^-60) and
 * the product by dscale (2^-24 relative): the reference's code, or its neighbour where a rounding
 * boundary lies within tol; the bound is absolute in the sum, so near-zero results of a
 * cancelling sum may span two codes (rare: <= 2% + 1 of the elements). */
static void fp8_case_q(cublasLtHandle_t h, int m, int n, int k) {
    const int lda = k, ldb = k, ldd = m;
    uint8_t *A = (uint8_t *)malloc((size_t)lda * m), *B = (uint8_t *)malloc((size_t)ldb * n);
    for (int i = 0; i < lda * m; i++) A[i] = rand_code();
    for (int i = 0; i < ldb * n; i++) B[i] = rand_code();
    float *sa = (float *)malloc(m * 4), *sb = (float *)malloc(n * 4);
    for (int i = 0; i < m; i++) sa[i] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -12);
    for (int i = 0; i < n; i++) sb[i] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -8);
    lb_half *bias = (lb_half *)malloc(m * 2);
    for (int i = 0; i < m; i++) bias[i] = gt_h(gt_uniform(&g_rng, -1.0f, 1.0f));
    double *ref = (double *)malloc(sizeof(double) * m * n), *tol = (double *)malloc(sizeof(double) * m * n);
    double amax = 0.0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double mag;
            const double sum = dot_ref(A + (size_t)i * lda, B + (size_t)j * ldb, k, &mag);
            const double f = (double)sa[i] * sb[j], b = gt_f(bias[i]), v = gelu_tanh_d(f * sum + b);
            ref[(size_t)j * m + i] = v;
            tol[(size_t)j * m + i] = 1.13 * (4.0 * (k + 5) * 0x1p-24 * f * mag + 4 * 0x1p-24 * fabs(b)) +
                                     8 * 0x1p-24 * fabs(v) + 0x1p-60;
            amax = fmax(amax, fabs(v));
        }
    const float dscale = (float)(448.0 / (0.5 * amax));
    void *dA = gt_upload(A, (size_t)lda * m), *dB = gt_upload(B, (size_t)ldb * n);
    void *dsa = gt_upload(sa, m * 4), *dsb = gt_upload(sb, n * 4), *dbias = gt_upload(bias, m * 2);
    void *dds = gt_upload(&dscale, 4), *dD = gt_dev_alloc((size_t)ldd * n);
    GT_CUDA(cudaMemset(dD, 0x7f, (size_t)ldd * n)); /* NaN codes: an unwritten element shows */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc, ld8;
    assert_int_equal(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), 0);
    const cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_GELU_BIAS;
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, bt = CUDA_R_16F;
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dbias, sizeof dbias), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof bt), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &dsa, sizeof dsa), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &dsb, sizeof dsb), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &dds, sizeof dds), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode), 0);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, k, m, lda), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, k, n, ldb), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16F, m, n, ldd), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&ld8, CUDA_R_8F_E4M3, m, n, ldd), 0);
    const float alpha = 1.0f, beta = 0.0f;
    const cublasStatus_t ms = cublasLtMatmul(h, desc, &alpha, dA, la, dB, lb, &beta, dD, lc, dD, ld8, NULL, NULL, 0, 0);
    if (gt_is_emu()) assert_int_equal(ms, CUBLAS_STATUS_SUCCESS); /* EMU ONLY: always an algorithm */
    if (ms != CUBLAS_STATUS_SUCCESS) {
        printf("  fp8 output m=%d n=%d k=%d: %s (skipped)\n", m, n, k, cublasLtGetStatusName(ms));
    } else {
        uint8_t *D = (uint8_t *)malloc((size_t)ldd * n);
        gt_download(D, dD, (size_t)ldd * n);
        int sat = 0, wide = 0;
        for (int i = 0; i < m * n; i++) {
            const double lo = (ref[i] - tol[i]) * dscale * (1 - 0x1p-24), hi = (ref[i] + tol[i]) * dscale * (1 + 0x1p-24);
            int spread;
            if (!gt_e4m3_within(D[i], lo, hi, &spread))
                fprintf(stderr, "fp8 output m=%d n=%d k=%d D[%d] = 0x%02x, ref E4M3(%.9g) = 0x%02x\n", m, n, k, i, D[i],
                        ref[i] * dscale, gt_e4m3_out(ref[i] * dscale, 0));
            assert_true(gt_e4m3_within(D[i], lo, hi, &spread));
            wide += spread > 1;
            sat += (D[i] & 0x7f) == 0x7e;
        }
        assert_true(sat > 0);
        assert_true(wide <= m * n / 50 + 1);
        free(D);
    }
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatrixLayoutDestroy(ld8);
    cublasLtMatmulDescDestroy(desc);
    void *bufs[] = {dA, dB, dsa, dsb, dbias, dds, dD};
    for (void *p : bufs) GT_CUDA(cudaFree(p));
    free(A), free(B), free(sa), free(sb), free(bias), free(ref), free(tol);
}

static void test_fp8_matmul(void **state) {
    (void)state;
    cublasLtHandle_t h;
    assert_int_equal(cublasLtCreate(&h), CUBLAS_STATUS_SUCCESS);
    /* sizes: multiples of 16 (FP8 needs 16-byte aligned leading dimensions) */
    fp8_case(h, 48, 32, 64, 1, CUDA_R_16F, CUBLASLT_EPILOGUE_BIAS, 1.0f, 0.0f);
    fp8_case(h, 48, 32, 64, 1, CUDA_R_16F, CUBLASLT_EPILOGUE_GELU_BIAS, 1.0f, 0.0f);
    fp8_case(h, 32, 48, 96, 1, CUDA_R_16F, CUBLASLT_EPILOGUE_BIAS, 1.0f, 1.0f); /* residual */
    fp8_case(h, 32, 16, 128, 0, CUDA_R_16F, CUBLASLT_EPILOGUE_BIAS, 0.5f, 0.0f);
    fp8_case(h, 64, 32, 48, 0, CUDA_R_32F, CUBLASLT_EPILOGUE_DEFAULT, 1.0f, 0.0f);
    fp8_case(h, 64, 32, 48, 1, CUDA_R_32F, CUBLASLT_EPILOGUE_DEFAULT, 1.0f, 0.0f);
    fp8_case_q(h, 48, 32, 64); /* E4M3 output */
    fp8_case_q(h, 96, 80, 128);
    cublasLtDestroy(h);
}

/* EMU ONLY: what the emulator refuses, and its switch for "no outer-vector algorithm". */
static void test_fp8_refusals(void **state) {
    (void)state;
    if (!gt_is_emu()) skip();
    cublasLtHandle_t h;
    assert_int_equal(cublasLtCreate(&h), CUBLAS_STATUS_SUCCESS);
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    assert_int_equal(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, 32, 16, 32), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, 32, 16, 32), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16F, 16, 16, 16), 0);
    cublasLtMatmulPreference_t pref;
    assert_int_equal(cublasLtMatmulPreferenceCreate(&pref), 0);
    cublasLtMatmulHeuristicResult_t r;
    int got = -1;
    /* NN: FP8 is TN only */
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got),
                     CUBLAS_STATUS_NOT_SUPPORTED);
    const cublasOperation_t opT = CUBLAS_OP_T;
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT), 0);
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got), 0);
    assert_int_equal(got, 1);
    const int32_t mode = CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode), 0);
    /* A outer, B scalar: refused */
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got),
                     CUBLAS_STATUS_NOT_SUPPORTED);
    assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode), 0);
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got), 0);
    setenv("LABSE_EMU_LT_NO_OUTER_VEC", "1", 1);
    got = -1;
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got),
                     CUBLAS_STATUS_NOT_SUPPORTED);
    assert_int_equal(got, 0);
    unsetenv("LABSE_EMU_LT_NO_OUTER_VEC");
    /* an E4M3 D: C must be fp16 or bf16; beta·C into it is not emulated; with a D scale */
    {
        cublasLtMatrixLayout_t l8, l32;
        assert_int_equal(cublasLtMatrixLayoutCreate(&l8, CUDA_R_8F_E4M3, 16, 16, 16), 0);
        assert_int_equal(cublasLtMatrixLayoutCreate(&l32, CUDA_R_32F, 16, 16, 16), 0);
        assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, l8, pref, 1, &r, &got), 0);
        assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, l8, l8, pref, 1, &r, &got),
                         CUBLAS_STATUS_NOT_SUPPORTED);
        assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, l32, l8, pref, 1, &r, &got),
                         CUBLAS_STATUS_NOT_SUPPORTED);
        void *buf = gt_dev_alloc(16 * 32 * 2);
        const float one = 1.0f;
        assert_int_equal(cublasLtMatmul(h, desc, &one, buf, la, buf, lb, &one, buf, lc, buf, l8, NULL, NULL, 0, 0),
                         CUBLAS_STATUS_NOT_SUPPORTED);
        /* a D scale on an fp16 D (FP8 A/B): INVALID_VALUE */
        assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &buf, sizeof buf), 0);
        assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, lc, pref, 1, &r, &got),
                         CUBLAS_STATUS_INVALID_VALUE);
        assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, desc, la, lb, lc, l8, pref, 1, &r, &got), 0);
        const void *none = NULL;
        assert_int_equal(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_D_SCALE_POINTER, &none, sizeof none), 0);
        GT_CUDA(cudaFree(buf));
        cublasLtMatrixLayoutDestroy(l8);
        cublasLtMatrixLayoutDestroy(l32);
    }
    /* scale pointers on an fp16 matmul: INVALID_VALUE */
    cublasLtMatmulDesc_t d16;
    cublasLtMatrixLayout_t l16;
    assert_int_equal(cublasLtMatmulDescCreate(&d16, CUBLAS_COMPUTE_32F, CUDA_R_32F), 0);
    assert_int_equal(cublasLtMatrixLayoutCreate(&l16, CUDA_R_16F, 16, 16, 16), 0);
    void *p = gt_dev_alloc(64);
    assert_int_equal(cublasLtMatmulDescSetAttribute(d16, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &p, sizeof p), 0);
    assert_int_equal(cublasLtMatmulAlgoGetHeuristic(h, d16, l16, l16, l16, l16, pref, 1, &r, &got),
                     CUBLAS_STATUS_INVALID_VALUE);
    GT_CUDA(cudaFree(p));
    cublasLtMatrixLayoutDestroy(l16);
    cublasLtMatmulDescDestroy(d16);
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(h);
}

/* ---- the kernels: row quantiser, LayerNorm's fp8 copy, the fallback epilogue ---- */

/* The host side of quant_fp8.cuh's row definition. x: the row's values (fp32). */
static void ref_quant_row(const float *x, int H, uint8_t *q, float *scale) {
    float amax = 0.0f;
    for (int i = 0; i < H; i++) amax = fmaxf(amax, fabsf(x[i]));
    const float inv = amax > 0.0f ? 448.0f / amax : 0.0f;
    for (int i = 0; i < H; i++) q[i] = lb_f32_to_e4m3(x[i] * inv);
    *scale = amax > 0.0f ? amax / 448.0f : 1.0f;
}

/* Rows of fp16 values of varied magnitude (one all-zero row, one with a single non-zero). */
static lb_half *make_rows(int T, int H) {
    lb_half *x = (lb_half *)malloc((size_t)T * H * sizeof *x);
    for (int t = 0; t < T; t++) {
        const float mag = ldexpf(1.0f, (int)(gt_next(&g_rng) % 16) - 8);
        for (int i = 0; i < H; i++) {
            float v = mag * gt_normal(&g_rng);
            if (t == 1) v = 0.0f;
            if (t == 2) v = i == H / 2 ? -mag : 0.0f;
            x[(size_t)t * H + i] = gt_h(v);
        }
    }
    return x;
}

static void test_quant_rows(void **state) {
    (void)state;
    const int T = 37;
    const int widths[] = {768, 100, 3072, 1};
    for (int w = 0; w < 4; w++) {
        const int H = widths[w];
        lb_half *x = make_rows(T, H);
        void *dx = gt_upload(x, (size_t)T * H * 2);
        uint8_t *dq = (uint8_t *)gt_dev_alloc((size_t)T * H);
        float *ds = (float *)gt_dev_alloc(T * 4);
        GT_CUDA(lb_quant_rows_fp8((const lb_half *)dx, T, H, dq, ds, 0));
        uint8_t *q = (uint8_t *)malloc((size_t)T * H), *rq = (uint8_t *)malloc(H);
        float *sc = (float *)malloc(T * 4), *row = (float *)malloc(H * 4);
        gt_download(q, dq, (size_t)T * H);
        gt_download(sc, ds, T * 4);
        for (int t = 0; t < T; t++) {
            float rs;
            for (int i = 0; i < H; i++) row[i] = gt_f(x[(size_t)t * H + i]);
            ref_quant_row(row, H, rq, &rs);
            assert_true(sc[t] == rs);
            assert_memory_equal(q + (size_t)t * H, rq, H);
            /* dequantised: within half an E4M3 step (2^-4 relative) of the row's values, and
             * the row's largest magnitude lands on ±448 exactly */
            for (int i = 0; i < H; i++)
                assert_true(fabsf(lb_e4m3_to_f32(rq[i]) * rs - row[i]) <= 0x1p-4f * fabsf(row[i]) + 0x1p-10f * rs);
        }
        assert_int_equal(sc[1], 1.0f); /* the zero row: scale 1, codes 0 */
        free(x), free(q), free(rq), free(sc), free(row);
        GT_CUDA(cudaFree(dx));
        GT_CUDA(cudaFree(dq));
        GT_CUDA(cudaFree(ds));
    }
    assert_int_equal(lb_quant_rows_fp8(NULL, 1, 4, NULL, NULL, 0), cudaErrorInvalidValue);
}

/* The fused LayerNorm writes the same fp16 rows as lb_add_layernorm and the fp8 copy that
 * lb_quant_rows_fp8 makes of them (vector path: H 768; generic: H 100, and 768 misaligned). */
static void test_layernorm_fp8(void **state) {
    (void)state;
    const int T = 21;
    for (int c = 0; c < 3; c++) {
        const int H = c == 1 ? 100 : 768, off = c == 2 ? 1 : 0;
        lb_half *x = make_rows(T, H), *r = make_rows(T, H);
        float *g = (float *)malloc(H * 4), *b = (float *)malloc(H * 4);
        for (int i = 0; i < H; i++) g[i] = gt_uniform(&g_rng, 0.5f, 1.5f), b[i] = gt_uniform(&g_rng, -0.2f, 0.2f);
        const size_t bytes = ((size_t)T * H + off) * 2;
        lb_half *d1 = (lb_half *)gt_dev_alloc(bytes), *d2 = (lb_half *)gt_dev_alloc(bytes);
        lb_half *dr = (lb_half *)gt_dev_alloc(bytes);
        GT_CUDA(cudaMemcpy(d1 + off, x, (size_t)T * H * 2, cudaMemcpyHostToDevice));
        GT_CUDA(cudaMemcpy(d2 + off, x, (size_t)T * H * 2, cudaMemcpyHostToDevice));
        GT_CUDA(cudaMemcpy(dr + off, r, (size_t)T * H * 2, cudaMemcpyHostToDevice));
        float *dg = (float *)gt_upload(g, H * 4), *db = (float *)gt_upload(b, H * 4);
        uint8_t *q1 = (uint8_t *)gt_dev_alloc((size_t)T * H), *q2 = (uint8_t *)gt_dev_alloc((size_t)T * H);
        float *s1 = (float *)gt_dev_alloc(T * 4), *s2 = (float *)gt_dev_alloc(T * 4);
        GT_CUDA(lb_add_layernorm_fp8(d1 + off, dr + off, dg, db, T, H, 1e-12f, q1, s1, 0));
        GT_CUDA(lb_add_layernorm(d2 + off, dr + off, dg, db, T, H, 1e-12f, 0));
        GT_CUDA(lb_quant_rows_fp8(d2 + off, T, H, q2, s2, 0));
        lb_half *h1 = (lb_half *)malloc(bytes), *h2 = (lb_half *)malloc(bytes);
        uint8_t *hq1 = (uint8_t *)malloc((size_t)T * H), *hq2 = (uint8_t *)malloc((size_t)T * H);
        float hs1[T], hs2[T];
        gt_download(h1, d1, bytes);
        gt_download(h2, d2, bytes);
        gt_download(hq1, q1, (size_t)T * H);
        gt_download(hq2, q2, (size_t)T * H);
        gt_download(hs1, s1, sizeof hs1);
        gt_download(hs2, s2, sizeof hs2);
        assert_memory_equal(h1, h2, bytes);
        assert_memory_equal(hq1, hq2, (size_t)T * H);
        assert_memory_equal(hs1, hs2, sizeof hs1);
        assert_int_equal(lb_add_layernorm_fp8(d1, NULL, dg, db, T, H, 1e-12f, q1, NULL, 0), cudaErrorInvalidValue);
        void *bufs[] = {d1, d2, dr, dg, db, q1, q2, s1, s2};
        for (void *p : bufs) GT_CUDA(cudaFree(p));
        free(x), free(r), free(g), free(b), free(h1), free(h2), free(hq1), free(hq2);
    }
}

/* lb_fp8_dequant against the host's fp32 evaluation in the documented order. The emulator
 * matches it bit for bit; a GPU may contract a product and a sum into one FMA (nvcc's default)
 * and tanhf differs by a few fp32 ulps: there, 1 fp16 ulp (2^-10 relative) + 2^-24 absolute. */
static void test_dequant(void **state) {
    (void)state;
    const int T = 19, N = 136;
    for (int c = 0; c < 4; c++) {
        const int gelu = c & 1, resid = (c >> 1) & 1;
        float *acc = (float *)malloc((size_t)T * N * 4), *sw = (float *)malloc(N * 4), *sx = (float *)malloc(T * 4);
        lb_half *y = (lb_half *)malloc((size_t)T * N * 2), *bias = (lb_half *)malloc(N * 2);
        for (int i = 0; i < T * N; i++) acc[i] = gt_uniform(&g_rng, -3e5f, 3e5f), y[i] = gt_h(gt_normal(&g_rng));
        for (int n = 0; n < N; n++) sw[n] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -10), bias[n] = gt_h(gt_normal(&g_rng));
        for (int t = 0; t < T; t++) sx[t] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -9);
        void *dacc = gt_upload(acc, (size_t)T * N * 4), *dsw = gt_upload(sw, N * 4), *dsx = gt_upload(sx, T * 4);
        void *dy = gt_upload(y, (size_t)T * N * 2), *db = gt_upload(bias, N * 2);
        GT_CUDA(lb_fp8_dequant((const float *)dacc, T, N, (const float *)dsw, (const float *)dsx,
                               (const lb_half *)db, gelu, resid, (lb_half *)dy, 0));
        lb_half *got = (lb_half *)malloc((size_t)T * N * 2);
        gt_download(got, dy, (size_t)T * N * 2);
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                const size_t i = (size_t)t * N + n;
                float v = acc[i] * sw[n] * sx[t];
                if (resid) v = v + gt_f(y[i]);
                v = v + gt_f(bias[n]);
                if (gelu) v = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
                if (gt_is_emu()) assert_int_equal(got[i], gt_h(v));
                else assert_true(fabsf(gt_f(got[i]) - v) <= 0x1p-10f * fabsf(v) + 0x1p-24f);
            }
        void *bufs[] = {dacc, dsw, dsx, dy, db};
        for (void *p : bufs) GT_CUDA(cudaFree(p));
        free(acc), free(sw), free(sx), free(y), free(bias), free(got);
    }
}

/* lb_fp8_dequant_q: the same v as lb_fp8_dequant (bias, GELU; no residual), then E4M3(v · d_inv)
 * with d_inv making every |v| above half the largest saturate; sx one value for all tokens,
 * filled by lb_fp8_fill_scale. Against the host's fp32 evaluation in the documented order and
 * src/base/fp8.c's rounding: bit for bit on the emulator; on a GPU (FMA contraction, tanhf's few
 * ulps: <= 8 2^-24 of the magnitudes involved) the code must lie between the codes of that
 * interval's ends. */
static void test_dequant_q(void **state) {
    (void)state;
    const int T = 23, N = 72;
    for (int gelu = 0; gelu < 2; gelu++) {
        float *acc = (float *)malloc((size_t)T * N * 4), *sw = (float *)malloc(N * 4), *sx = (float *)malloc(T * 4);
        lb_half *bias = (lb_half *)malloc(N * 2);
        for (int i = 0; i < T * N; i++) acc[i] = gt_uniform(&g_rng, -3e5f, 3e5f);
        for (int n = 0; n < N; n++) sw[n] = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -10), bias[n] = gt_h(gt_normal(&g_rng));
        const float sx1 = ldexpf(gt_uniform(&g_rng, 0.5f, 1.0f), -9);
        float *v = (float *)malloc((size_t)T * N * 4), *p = (float *)malloc((size_t)T * N * 4), vmax = 0.0f;
        for (int t = 0; t < T; t++)
            for (int n = 0; n < N; n++) {
                const size_t i = (size_t)t * N + n;
                float x = p[i] = acc[i] * sw[n] * sx1;
                x = x + gt_f(bias[n]);
                if (gelu) x = 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
                v[i] = x;
                vmax = fmaxf(vmax, fabsf(x));
            }
        const float inv = 448.0f / (0.5f * vmax);
        void *dacc = gt_upload(acc, (size_t)T * N * 4), *dsw = gt_upload(sw, N * 4), *db = gt_upload(bias, N * 2);
        float *dsx = (float *)gt_dev_alloc(T * 4), *dinv = (float *)gt_upload(&inv, 4);
        uint8_t *dy = (uint8_t *)gt_dev_alloc((size_t)T * N);
        GT_CUDA(lb_fp8_fill_scale(dsx, T, sx1, 0));
        gt_download(sx, dsx, T * 4);
        for (int t = 0; t < T; t++) assert_true(sx[t] == sx1);
        GT_CUDA(lb_fp8_dequant_q((const float *)dacc, T, N, (const float *)dsw, dsx, (const lb_half *)db, gelu, dinv, dy, 0));
        uint8_t *got = (uint8_t *)malloc((size_t)T * N);
        gt_download(got, dy, (size_t)T * N);
        int sat = 0;
        for (size_t i = 0; i < (size_t)T * N; i++) {
            const uint8_t want = lb_f32_to_e4m3(v[i] * inv);
            sat += (want & 0x7f) == 0x7e;
            if (gt_is_emu()) {
                if (got[i] != want) fprintf(stderr, "dequant_q gelu %d [%zu]: 0x%02x, want 0x%02x\n", gelu, i, got[i], want);
                assert_int_equal(got[i], want);
            } else {
                const double d = 8 * 0x1p-24 * (fabs(p[i]) + fabs(gt_f(bias[i % N])) + fabs(v[i])) + 1e-30;
                int spread;
                assert_true(gt_e4m3_within(got[i], (v[i] - d) * inv, (v[i] + d) * inv, &spread));
            }
        }
        assert_true(sat > 0);
        assert_int_equal(lb_fp8_dequant_q((const float *)dacc, T, N, (const float *)dsw, dsx, NULL, 0, NULL, dy, 0),
                         cudaErrorInvalidValue);
        void *bufs[] = {dacc, dsw, db, dsx, dinv, dy};
        for (void *b : bufs) GT_CUDA(cudaFree(b));
        free(acc), free(sw), free(sx), free(bias), free(v), free(p), free(got);
    }
    assert_int_equal(lb_fp8_fill_scale(NULL, 3, 1.0f, 0), cudaErrorInvalidValue);
    assert_int_equal(lb_fp8_fill_scale(NULL, 0, 1.0f, 0), cudaSuccess);
}

int main(void) {
    gt_require_device();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_fp8_matmul),
        cmocka_unit_test(test_fp8_refusals),
        cmocka_unit_test(test_quant_rows),
        cmocka_unit_test(test_layernorm_fp8),
        cmocka_unit_test(test_dequant),
        cmocka_unit_test(test_dequant_q),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
