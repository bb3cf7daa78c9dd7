/* test_k_attention.c — the two variable-length attention kernels, kernels/attention.cu (tiled)
 * and kernels/attention_short.cu (one warp per (sequence, head), mma.sync + cp.async), each
 * against two CPU attentions computed from the same fp16 inputs:
 *   ref64    float64 throughout (the truth);
 *   naive16  what a plain fp16 implementation computes: scores in fp32 from the fp16 q, k,
 *            scaled by 1/sqrt(d) in fp32, softmax in fp32 (expf), P rounded to fp16, P.V
 *            accumulated in fp32, output rounded to fp16.
 * Tolerance (flash-attention's tests): per case
 *     max |gpu - ref64| <= 2 * max |naive16 - ref64| + FLOOR,   FLOOR = 1e-4 absolute.
 * The factor 2 lets the kernel's rounding differ from the naive one (P is rounded to fp16
 * before normalisation and relative to a running max, then rescaled in fp32) while staying of
 * the same order; FLOOR only matters where naive16 is (almost) exact, e.g. length-1 sequences
 * where the output is v itself: 1e-4 is a tenth of one fp16 ulp at |x| ~ 1 (9.8e-4), so it
 * tolerates fp32 summation-order noise but not a wrong or differently-rounded fp16 value
 * there. NaN / inf never pass: every output is first checked finite, and the bound test is
 * written so that a NaN fails it.
 * Inputs: fresh seeded N(0, scale^2) q, k, v (scale 1: q.k/sqrt(d) ~ N(0,1), a realistic
 * spread; scale 2 and 4: scores ~ N(0,16) and N(0,256), a peaked softmax that stresses the
 * running max). The output is poisoned (0xFF bytes: fp16 NaN) before every launch and has
 * guard rows after the last token that must stay poisoned; every element is checked.
 * The short kernel runs its own families (every length 1..64 around its cut-off, ragged mixes,
 * head counts that leave warps without a head, zero-length padding sequences, lengths past the
 * cut-off) plus the tiled kernel's families; the tolerance is the same for both.
 * The fp8 forms (lb_attention_fp8, lb_attention_short_fp8: E4M3 codes of the fp16 context times
 * one static inv_scale, kernels/attn_out.cuh) have no tolerance: in the fp8 family every case
 * runs the fp16 form (checked as above), then the fp8 form once per inv_scale into a buffer
 * poisoned with 0xFF (E4M3 NaN, which no finite context produces), and every byte must equal
 * lb_f32_to_e4m3(half_to_float(ctx16) * inv_scale) (src/base/fp8.h, written independently of
 * the device conversion), guard rows still 0xFF. The inv_scales cover E4M3's subnormals, a
 * non-power-of-two product, the static-bound use (no saturation) and saturation (asserted to
 * happen). The dispatcher's fp8 form (lb_gpu_attention_fp8) and the fp8 argument rules are
 * tested in the short group.
 *
 * Usage: test_k_attention [--small] [--short]
 *   --small: the emulator's few-second set (label emu); default: the full set (label gpu);
 *   --short: the short kernel's group only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "attention.cuh"
#include "attention_short.cuh"
#include "base/fp8.h"
#include "gpu/gpu_attention.h"
#include "gpu_test_util.h"

#define FLOOR 1e-4
#define GUARD_ROWS 3

static int g_small = 0;
static lb_attn_kernel g_kernel = LB_ATTN_TILED; /* the kernel run_case launches */
#define KNAME (g_kernel == LB_ATTN_SHORT ? "short" : "tiled")
static uint64_t g_seed = 0x5eed0a77e2024ull;
/* The fp8 forms: run_case also runs them with each of these inv_scales (none when 0). */
#define MAX_INV 3
static int g_ninv = 0;
static float g_inv[MAX_INV];

/* The kernel under test (g_kernel) on the default stream; max_len is the tiled kernel's only. */
static cudaError_t launch(lb_half *ctx, const lb_half *qkv, const int32_t *cu, int n, int max_len,
                          int heads, int d) {
    if (g_kernel == LB_ATTN_SHORT) return lb_attention_short(ctx, qkv, cu, n, heads, d, 0);
    return lb_attention(ctx, qkv, cu, n, max_len, heads, d, 0);
}

/* The fp8 form of the kernel under test. */
static cudaError_t launch_fp8(uint8_t *ctx8, float inv, const lb_half *qkv, const int32_t *cu, int n,
                              int max_len, int heads, int d) {
    if (g_kernel == LB_ATTN_SHORT) return lb_attention_short_fp8(ctx8, inv, qkv, cu, n, heads, d, 0);
    return lb_attention_fp8(ctx8, inv, qkv, cu, n, max_len, heads, d, 0);
}

/* ---- CPU attentions (one sequence, one head) ------------------------------------------ */

/* q, k, v: [len, d] floats (exact fp16 values); o64 / o16: [len, d] outputs.
 * sc, p, s32: scratch of len doubles / floats. */
static void cpu_attention(const float *q, const float *k, const float *v, int len, int d,
                          double *o64, float *o16, double *sc, float *s32) {
    const double scale64 = 1.0 / sqrt((double)d);
    const float scale32 = 1.0f / sqrtf((float)d);
    for (int i = 0; i < len; ++i) {
        const float *qi = q + (size_t)i * d;
        /* ref64 */
        double mx = -INFINITY;
        for (int j = 0; j < len; ++j) {
            double acc = 0;
            for (int t = 0; t < d; ++t) acc += (double)qi[t] * k[(size_t)j * d + t];
            sc[j] = acc * scale64;
            if (sc[j] > mx) mx = sc[j];
        }
        double sum = 0;
        for (int j = 0; j < len; ++j) sum += (sc[j] = exp(sc[j] - mx));
        for (int t = 0; t < d; ++t) o64[(size_t)i * d + t] = 0;
        for (int j = 0; j < len; ++j) {
            const double pj = sc[j] / sum;
            for (int t = 0; t < d; ++t) o64[(size_t)i * d + t] += pj * v[(size_t)j * d + t];
        }
        /* naive16 */
        float mf = -INFINITY;
        for (int j = 0; j < len; ++j) {
            float acc = 0; /* fp16 x fp16 products are exact in fp32 */
            for (int t = 0; t < d; ++t) acc += qi[t] * k[(size_t)j * d + t];
            s32[j] = acc * scale32;
            if (s32[j] > mf) mf = s32[j];
        }
        float sf = 0;
        for (int j = 0; j < len; ++j) sf += (s32[j] = expf(s32[j] - mf));
        float *oi = o16 + (size_t)i * d;
        for (int t = 0; t < d; ++t) oi[t] = 0;
        for (int j = 0; j < len; ++j) {
            const float pj = gt_f(gt_h(s32[j] / sf));
            for (int t = 0; t < d; ++t) oi[t] += pj * v[(size_t)j * d + t];
        }
        for (int t = 0; t < d; ++t) oi[t] = gt_f(gt_h(oi[t]));
    }
}

/* ---- one case ---------------------------------------------------------------------------- */

typedef struct {
    double err_gpu, err_naive, bound;
    long sat[MAX_INV], sub[MAX_INV]; /* fp8 form: saturated (±448) and subnormal codes per g_inv */
} case_result;

/* The fp8 form with every g_inv on the case's device buffers: byte-exact against the fp16
 * output hctx (T rows of H), guard rows untouched. Records the saturated and subnormal codes. */
static void check_fp8(const char *name, const void *dqkv, const void *dcu, const lb_half *hctx,
                      int T, int n, int max_len, int heads, int d, case_result *r) {
    const int H = heads * d;
    const size_t nctx = (size_t)T * H, nalloc = (size_t)(T + GUARD_ROWS) * H;
    uint8_t *h8 = malloc(nalloc);
    assert_non_null(h8);
    void *d8 = gt_dev_alloc(nalloc);
    for (int k = 0; k < g_ninv; ++k) {
        const float inv = g_inv[k];
        GT_CUDA(cudaMemset(d8, 0xFF, nalloc));
        assert_int_equal(launch_fp8(d8, inv, dqkv, dcu, n, max_len, heads, d), cudaSuccess);
        gt_download(h8, d8, nalloc);
        r->sat[k] = r->sub[k] = 0;
        for (size_t i = 0; i < nalloc; ++i) {
            if (i >= nctx) {
                if (h8[i] != 0xFF) fail_msg("%s %s fp8: write past the last token at %zu", KNAME, name, i);
                continue;
            }
            const float x = gt_f(hctx[i]) * inv; /* one fp32 product, as the kernel */
            const uint8_t want = lb_f32_to_e4m3(x);
            if (h8[i] != want)
                fail_msg("%s %s fp8 inv_scale %g: row %zu col %zu: code 0x%02x, want 0x%02x "
                         "(fp16 ctx %g)", KNAME, name, (double)inv, i / (size_t)H, i % (size_t)H,
                         h8[i], want, (double)gt_f(hctx[i]));
            if ((h8[i] & 0x7f) == 0x7e) r->sat[k]++;
            if ((h8[i] & 0x78) == 0 && (h8[i] & 7)) r->sub[k]++;
        }
        printf("        fp8 inv_scale %-8g: %zu codes equal; %ld saturated, %ld subnormal\n",
               (double)inv, nctx, r->sat[k], r->sub[k]);
    }
    free(h8);
    GT_CUDA(cudaFree(d8));
}

/* Run lb_attention on sequences of lengths lens[0..n-1] (one ragged batch), `heads` heads of
 * dimension d, inputs N(0, scale^2); launch with max_len (0: the true longest). Asserts the
 * tolerance; returns the errors. */
static case_result run_case(const char *name, const int *lens, int n, int heads, int d,
                            float scale, int max_len) {
    const int H = heads * d;
    int32_t *cu = malloc(sizeof(int32_t) * (size_t)(n + 1));
    assert_non_null(cu);
    cu[0] = 0;
    int longest = 0;
    for (int s = 0; s < n; ++s) {
        cu[s + 1] = cu[s] + lens[s];
        if (lens[s] > longest) longest = lens[s];
    }
    const int T = cu[n];
    if (max_len <= 0) max_len = longest;

    gt_rng rng = {g_seed++};
    const size_t nqkv = (size_t)T * 3 * H, nctx = (size_t)T * H;
    const size_t nctx_alloc = (size_t)(T + GUARD_ROWS) * H;
    lb_half *hqkv = malloc(sizeof(lb_half) * nqkv);
    lb_half *hctx = malloc(sizeof(lb_half) * nctx_alloc);
    assert_non_null(hqkv);
    assert_non_null(hctx);
    for (size_t i = 0; i < nqkv; ++i) hqkv[i] = gt_h(scale * gt_normal(&rng));

    void *dqkv = gt_upload(hqkv, sizeof(lb_half) * nqkv);
    void *dcu = gt_upload(cu, sizeof(int32_t) * (size_t)(n + 1));
    void *dctx = gt_dev_alloc(sizeof(lb_half) * nctx_alloc);
    GT_CUDA(cudaMemset(dctx, 0xFF, sizeof(lb_half) * nctx_alloc));
    GT_CUDA(cudaDeviceSynchronize());
    struct timespec ts0, ts1;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    assert_int_equal(launch((lb_half *)dctx, (const lb_half *)dqkv, (const int32_t *)dcu, n, max_len,
                            heads, d),
                     cudaSuccess);
    GT_CUDA(cudaDeviceSynchronize());
    clock_gettime(CLOCK_MONOTONIC, &ts1);
    const double kernel_ms = (ts1.tv_sec - ts0.tv_sec) * 1e3 + (ts1.tv_nsec - ts0.tv_nsec) * 1e-6;
    gt_download(hctx, dctx, sizeof(lb_half) * nctx_alloc);

    /* guard rows untouched */
    for (size_t i = nctx; i < nctx_alloc; ++i) {
        if (hctx[i] != 0xFFFFu) fail_msg("%s %s: write past the last token at %zu", KNAME, name, i);
    }

    /* The CPU attentions, one (sequence, head) pair per iteration, in parallel (OpenMP when the
     * test is built with it: the full GPU set is ~45 s of CPU single-threaded). Each pair
     * records its errors and its first non-finite output; the asserts come after. */
    const int npairs = n * heads;
    double *pe_gpu = calloc((size_t)npairs, sizeof(double));
    double *pe_naive = calloc((size_t)npairs, sizeof(double));
    long *pbad = malloc(sizeof(long) * (size_t)npairs); /* -1 or the first bad (i * d + t) */
    assert_true(pe_gpu && pe_naive && pbad);
    int alloc_fail = 0;
#pragma omp parallel reduction(| : alloc_fail)
    {
        float *q = malloc(sizeof(float) * (size_t)longest * d);
        float *k = malloc(sizeof(float) * (size_t)longest * d);
        float *v = malloc(sizeof(float) * (size_t)longest * d);
        double *o64 = malloc(sizeof(double) * (size_t)longest * d);
        float *o16 = malloc(sizeof(float) * (size_t)longest * d);
        double *sc = malloc(sizeof(double) * (size_t)longest);
        float *s32 = malloc(sizeof(float) * (size_t)longest);
        const int ok = q && k && v && o64 && o16 && sc && s32;
        if (!ok) alloc_fail = 1;
#pragma omp for schedule(dynamic, 1)
        for (int pi = 0; pi < npairs; ++pi) {
            const int s = pi / heads, h = pi % heads, len = lens[s];
            pbad[pi] = -1;
            if (!ok) continue;
            for (int i = 0; i < len; ++i) {
                const lb_half *row = hqkv + (size_t)(cu[s] + i) * 3 * H + (size_t)h * d;
                for (int t = 0; t < d; ++t) {
                    q[(size_t)i * d + t] = gt_f(row[t]);
                    k[(size_t)i * d + t] = gt_f(row[H + t]);
                    v[(size_t)i * d + t] = gt_f(row[2 * H + t]);
                }
            }
            cpu_attention(q, k, v, len, d, o64, o16, sc, s32);
            for (int i = 0; i < len; ++i) {
                const lb_half *orow = hctx + (size_t)(cu[s] + i) * H + (size_t)h * d;
                for (int t = 0; t < d; ++t) {
                    const float g = gt_f(orow[t]);
                    if (!isfinite(g) && pbad[pi] < 0) pbad[pi] = (long)i * d + t;
                    const double ref = o64[(size_t)i * d + t];
                    const double eg = fabs((double)g - ref);
                    const double en = fabs((double)o16[(size_t)i * d + t] - ref);
                    if (eg > pe_gpu[pi]) pe_gpu[pi] = eg; /* non-finite: pbad */
                    if (en > pe_naive[pi]) pe_naive[pi] = en;
                }
            }
        }
        free(q); free(k); free(v); free(o64); free(o16); free(sc); free(s32);
    }
    assert_false(alloc_fail);

    case_result r = {0, 0, 0, {0}, {0}};
    for (int pi = 0; pi < npairs; ++pi) {
        const int s = pi / heads, h = pi % heads;
        if (pbad[pi] >= 0) {
            const long i = pbad[pi] / d, t = pbad[pi] % d;
            fail_msg("%s %s: seq %d (len %d) head %d row %ld col %ld: not finite (0x%04x)", KNAME, name, s,
                     lens[s], h, i, t, hctx[(size_t)(cu[s] + i) * H + (size_t)h * d + t]);
        }
        if (pe_gpu[pi] > r.err_gpu) r.err_gpu = pe_gpu[pi];
        if (pe_naive[pi] > r.err_naive) r.err_naive = pe_naive[pi];
    }
    free(pe_gpu); free(pe_naive); free(pbad);
    r.bound = 2.0 * r.err_naive + FLOOR;
    printf("  %-5s %-28s d=%-3d heads=%-2d n=%-3d T=%-5d max_len=%-4d scale=%g: "
           "max|gpu-ref64| %.3e  max|naive16-ref64| %.3e  bound %.3e  (launch+sync %.1f ms)\n",
           KNAME, name, d, heads, n, T, max_len, (double)scale, r.err_gpu, r.err_naive, r.bound,
           kernel_ms);
    fflush(stdout);
    if (!(r.err_gpu <= r.bound))
        fail_msg("%s %s: d=%d heads=%d: max|gpu-ref64| %.3e > bound %.3e", KNAME, name, d, heads,
                 r.err_gpu, r.bound);
    check_fp8(name, dqkv, dcu, hctx, T, n, max_len, heads, d, &r);

    free(hqkv); free(hctx); free(cu);
    GT_CUDA(cudaFree(dqkv));
    GT_CUDA(cudaFree(dcu));
    GT_CUDA(cudaFree(dctx));
    return r;
}

/* ---- case families --------------------------------------------------------------------- */

static const int k_dims[] = {16, 32, 64, 128};
#define NDIMS 4
static const int k_all_lens[] = {1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 511, 512};
#define NALL ((int)(sizeof k_all_lens / sizeof k_all_lens[0]))
#define NSMALL 7

static int full_heads(int d) { return d == 128 ? 6 : 12; } /* H = 768 (LaBSE) or 192..768 */

/* Every length alone, every head dim (the emulator: lengths up to 129 and one of 512). */
static void test_each_length(void **state) {
    (void)state;
    static const int small_lens[NSMALL] = {1, 2, 31, 33, 64, 65, 129};
    const int *lens = g_small ? small_lens : k_all_lens;
    const int nl = g_small ? NSMALL : NALL;
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di];
        for (int i = 0; i < nl; ++i) {
            char name[64];
            snprintf(name, sizeof name, "alone len=%d", lens[i]);
            run_case(name, &lens[i], 1, g_small ? 1 : full_heads(d), d, 1.0f, 0);
        }
    }
    if (g_small) { /* one full-length sequence on LaBSE's head dim */
        const int len = 512;
        run_case("alone len=512", &len, 1, 1, 64, 1.0f, 0);
    }
}

/* Ragged batches mixing the lengths (shuffled), every head dim. */
static void test_mixes(void **state) {
    (void)state;
    gt_rng rng = {g_seed ^ 0x31415ull};
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di];
        if (g_small) { /* every small length, 2 heads */
            const int lens[NSMALL] = {65, 1, 33, 2, 129, 31, 64};
            run_case("mix small lens", lens, NSMALL, 2, d, 1.0f, 0);
        } else {
            int lens[NALL];
            memcpy(lens, k_all_lens, sizeof lens);
            for (int i = NALL - 1; i > 0; --i) {
                const int j = (int)(gt_next(&rng) % (uint64_t)(i + 1));
                const int t = lens[i]; lens[i] = lens[j]; lens[j] = t;
            }
            run_case("mix all lens", lens, NALL, full_heads(d), d, 1.0f, 0);
            int rl[24]; /* random lengths 1..512, many short ones (a realistic batch) */
            for (int i = 0; i < 24; ++i) {
                const uint64_t u = gt_next(&rng);
                rl[i] = (i % 3 == 0) ? 1 + (int)(u % 512) : 1 + (int)(u % 48);
            }
            run_case("mix random lens", rl, 24, full_heads(d), d, 1.0f, 0);
        }
    }
}

/* Larger input scale: peaked softmax, running max changes along the key walk. */
static void test_large_scale(void **state) {
    (void)state;
    if (g_small) {
        const int lens[] = {65, 2, 33};
        const int lens16[] = {129, 3};
        run_case("scale x2", lens, 3, 1, 64, 2.0f, 0);
        run_case("scale x4", lens16, 2, 1, 16, 4.0f, 0);
        return;
    }
    const int lens[] = {512, 1, 129, 33, 256, 64};
    for (int di = 0; di < NDIMS; ++di) {
        run_case("scale x2", lens, 6, full_heads(k_dims[di]), k_dims[di], 2.0f, 0);
        run_case("scale x4", lens, 6, full_heads(k_dims[di]), k_dims[di], 4.0f, 0);
    }
}

/* Longer than 512 (the kernel has no length limit). */
static void test_long(void **state) {
    (void)state;
    if (g_small) {
        const int lens[] = {600, 5};
        run_case("long len=600", lens, 2, 1, 16, 1.0f, 0);
        return;
    }
    const int lens[] = {1000, 3};
    run_case("long len=1000", lens, 2, 12, 64, 1.0f, 0);
    run_case("long len=1000", lens, 2, 6, 128, 1.0f, 0);
}

/* max_len above the true longest: blocks past every sequence return at once. Below it: the
 * blocks stride over the remaining query tiles (documented in attention.cu), still exact. */
static void test_max_len(void **state) {
    (void)state;
    const int lens[] = {33, 1, 64};
    const int heads = g_small ? 1 : 4;
    for (int di = 0; di < NDIMS; ++di) {
        run_case("max_len > longest", lens, 3, heads, k_dims[di], 1.0f, 300);
        run_case("max_len < longest", lens, 3, heads, k_dims[di], 1.0f, 1);
    }
}

/* Argument checks (the kernel under test): unsupported head dims, bad sizes and misaligned
 * pointers are rejected without a launch; n == 0 is a successful no-op. */
static void test_arguments(void **state) {
    (void)state;
    int32_t cu[2] = {0, 4};
    void *dqkv = gt_dev_alloc(sizeof(lb_half) * 4 * 3 * 64);
    void *dctx = gt_dev_alloc(sizeof(lb_half) * 4 * 64);
    void *dcu = gt_upload(cu, sizeof cu);
    lb_half *ctx = dctx;
    const lb_half *qkv = dqkv;
    const int32_t *cup = dcu;
    const int bad_dims[] = {0, 8, 24, 48, 96, 256, -64};
    for (size_t i = 0; i < sizeof bad_dims / sizeof bad_dims[0]; ++i) {
        const int heads = bad_dims[i] > 0 ? 64 / bad_dims[i] : 1;
        assert_int_equal(launch(ctx, qkv, cup, 1, 4, heads > 0 ? heads : 1, bad_dims[i]),
                         cudaErrorInvalidValue);
    }
    assert_int_equal(launch(ctx, qkv, cup, 1, 4, 0, 64), cudaErrorInvalidValue);
    if (g_kernel == LB_ATTN_TILED) /* the short kernel takes no max_len */
        assert_int_equal(launch(ctx, qkv, cup, 1, 0, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch((lb_half *)((char *)dctx + 2), qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch(ctx, qkv, cup, -1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch(NULL, qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch(ctx, NULL, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch(ctx, qkv, NULL, 1, 4, 1, 64), cudaErrorInvalidValue);
    /* n == 0: nothing to do, nothing launched (the poisoned output stays poisoned) */
    GT_CUDA(cudaMemset(dctx, 0xFF, sizeof(lb_half) * 4 * 64));
    assert_int_equal(launch(ctx, qkv, cup, 0, 4, 1, 64), cudaSuccess);
    assert_int_equal(launch(NULL, NULL, NULL, 0, 1, 1, 64), cudaSuccess);
    lb_half out[4 * 64];
    gt_download(out, dctx, sizeof out);
    for (int i = 0; i < 4 * 64; ++i) assert_int_equal(out[i], 0xFFFF);
    /* the rejected calls left no error behind */
    assert_int_equal(cudaGetLastError(), cudaSuccess);
    GT_CUDA(cudaFree(dqkv));
    GT_CUDA(cudaFree(dctx));
    GT_CUDA(cudaFree(dcu));
}

/* ---- the fp8 forms ---------------------------------------------------------------------- */

/* Every head dim, ragged batches with lengths 1 and past LB_ATTN_SHORT_MAX_LEN (65: also past
 * the tiled kernel's first 64-row query tile; for the short kernel also zero-length padding
 * sequences), heads that leave the short kernel's warps idle; inv_scales:
 *   1      context values ~0.01-1: many E4M3 subnormals (< 2^-6, asserted), the 2^-9 grid;
 *   37.7   the static-bound use, 448 / 37.7 = 11.9 > |ctx| (|ctx| <= max |v|, below 6 for these
 *          N(0,1) inputs: asserted no saturation), and not a power of two: the fp32 product
 *          rounds before the E4M3 rounding;
 *   3000   |ctx| > 0.15 saturates to ±448 (asserted to occur), the rest rounds normally.
 * The emulator's set is one batch per head dim (each fp8 launch costs as much as the fp16 one);
 * the GPU's adds a realistic random batch. */
static void test_fp8(void **state) {
    (void)state;
    static const float invs[MAX_INV] = {1.0f, 37.7f, 3000.0f};
    memcpy(g_inv, invs, sizeof invs);
    g_ninv = MAX_INV;
    gt_rng rng = {g_seed ^ 0x8e4a3ull};
    const int lens[] = {1, 65, 17, 40};
    const int lens0[] = {0, 1, 65, 0, 17, 40, 0};
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di];
        /* the emulator: 2 heads (1 for d = 128) still leave warps of the short kernel idle */
        const int heads = g_small ? (d == 128 ? 1 : 2) : full_heads(d);
        const case_result r = g_kernel == LB_ATTN_SHORT
                                  ? run_case("fp8 ragged + zero-length", lens0, 7, heads, d, 1.0f, 0)
                                  : run_case("fp8 ragged", lens, 4, heads, d, 1.0f, 0);
        assert_true(r.sub[0] > 0); /* the subnormal range was exercised */
        assert_int_equal(r.sat[1], 0); /* the static bound holds for these inputs */
        assert_true(r.sat[2] > 0); /* saturation was exercised */
        if (!g_small) { /* a realistic batch: random lengths 1..512, many short ones */
            int rl[24];
            for (int i = 0; i < 24; ++i) {
                const uint64_t u = gt_next(&rng);
                rl[i] = (i % 3 == 0) ? 1 + (int)(u % 512) : 1 + (int)(u % 48);
            }
            run_case("fp8 mix random lens", rl, 24, heads, d, 1.0f, 0);
        }
    }
}

/* test_fp8's teardown: the other families run the fp16 form only, even after a failure. */
static int fp8_off(void **state) {
    (void)state;
    g_ninv = 0;
    return 0;
}

/* The fp8 forms' argument rules (the kernel under test): inv_scale finite and > 0 whatever n;
 * ctx8 non-NULL and 16-byte aligned; the rest as the fp16 form's (lb_attention_args). */
static void test_fp8_arguments(void **state) {
    (void)state;
    int32_t cu[2] = {0, 4};
    void *dqkv = gt_dev_alloc(sizeof(lb_half) * 4 * 3 * 64);
    uint8_t *d8 = gt_dev_alloc(4 * 64 + 16);
    void *dcu = gt_upload(cu, sizeof cu);
    const lb_half *qkv = dqkv;
    const int32_t *cup = dcu;
    GT_CUDA(cudaMemset(d8, 0xFF, 4 * 64 + 16));
    const float bad_inv[] = {0.0f, -0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof bad_inv / sizeof bad_inv[0]; ++i) {
        assert_int_equal(launch_fp8(d8, bad_inv[i], qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
        assert_int_equal(launch_fp8(d8, bad_inv[i], qkv, cup, 0, 4, 1, 64), cudaErrorInvalidValue);
    }
    assert_int_equal(launch_fp8(d8 + 8, 1.0f, qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8 + 1, 1.0f, qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(NULL, 1.0f, qkv, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8, 1.0f, NULL, cup, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8, 1.0f, qkv, NULL, 1, 4, 1, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8, 1.0f, qkv, cup, 1, 4, 1, 48), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8, 1.0f, qkv, cup, 1, 4, 0, 64), cudaErrorInvalidValue);
    assert_int_equal(launch_fp8(d8, 1.0f, qkv, cup, -1, 4, 1, 64), cudaErrorInvalidValue);
    if (g_kernel == LB_ATTN_TILED) /* the short kernel takes no max_len */
        assert_int_equal(launch_fp8(d8, 1.0f, qkv, cup, 1, 0, 1, 64), cudaErrorInvalidValue);
    /* n == 0: nothing to do, nothing launched */
    assert_int_equal(launch_fp8(d8, 1.0f, qkv, cup, 0, 4, 1, 64), cudaSuccess);
    assert_int_equal(launch_fp8(NULL, 1.0f, NULL, NULL, 0, 1, 1, 64), cudaSuccess);
    uint8_t out[4 * 64 + 16];
    gt_download(out, d8, sizeof out);
    for (size_t i = 0; i < sizeof out; ++i) assert_int_equal(out[i], 0xFF);
    assert_int_equal(cudaGetLastError(), cudaSuccess);
    GT_CUDA(cudaFree(dqkv));
    GT_CUDA(cudaFree(d8));
    GT_CUDA(cudaFree(dcu));
}

/* lb_gpu_attention_fp8 (src/gpu/gpu_attention.c): the fp8 form of the kernel the choice picks,
 * byte for byte (its own output against the kernel's, both from the same inputs); forced
 * choices reach their kernel (max_len 0 only the tiled kernel refuses); a bad inv_scale and a
 * bad LABSE_GPU_ATTN fail with a message. The caller's LABSE_GPU_ATTN is restored. */
static void test_fp8_dispatch(void **state) {
    (void)state;
    const char *old = getenv("LABSE_GPU_ATTN");
    char *saved = old ? strdup(old) : NULL;
    const int lens[] = {3, 70, 1};
    const int n = 3, heads = 2, d = 32, H = heads * d, T = 74;
    int32_t cu[4] = {0, 3, 73, 74};
    gt_rng rng = {g_seed++};
    const size_t nqkv = (size_t)T * 3 * H;
    lb_half *hqkv = malloc(sizeof(lb_half) * nqkv);
    uint8_t *want = malloc((size_t)T * H), *got = malloc((size_t)T * H);
    assert_true(hqkv && want && got);
    for (size_t i = 0; i < nqkv; ++i) hqkv[i] = gt_h(gt_normal(&rng));
    void *dqkv = gt_upload(hqkv, sizeof(lb_half) * nqkv);
    void *dcu = gt_upload(cu, sizeof cu);
    uint8_t *d8 = gt_dev_alloc((size_t)T * H);
    labse_error err;
    /* auto: max_len 70 -> tiled, then the first sequence alone (max_len 3) -> short */
    for (int c = 0; c < 2; ++c) {
        const int nn = c ? 1 : n, ml = c ? lens[0] : 70;
        const size_t bytes = (size_t)cu[nn] * H;
        unsetenv("LABSE_GPU_ATTN");
        GT_CUDA(c ? lb_attention_short_fp8(d8, 20.0f, dqkv, dcu, nn, heads, d, 0)
                  : lb_attention_fp8(d8, 20.0f, dqkv, dcu, nn, ml, heads, d, 0));
        gt_download(want, d8, bytes);
        GT_CUDA(cudaMemset(d8, 0xFF, (size_t)T * H));
        assert_int_equal(lb_gpu_attention_fp8(d8, 20.0f, dqkv, dcu, nn, ml, heads, d, 0, &err),
                         LABSE_OK);
        GT_CUDA(cudaDeviceSynchronize());
        gt_download(got, d8, bytes);
        assert_memory_equal(got, want, bytes);
    }
    setenv("LABSE_GPU_ATTN", "short", 1);
    assert_int_equal(lb_gpu_attention_fp8(d8, 20.0f, dqkv, dcu, n, 0, heads, d, 0, &err), LABSE_OK);
    setenv("LABSE_GPU_ATTN", "tiled", 1);
    assert_int_equal(lb_gpu_attention_fp8(d8, 20.0f, dqkv, dcu, n, 0, heads, d, 0, &err),
                     LABSE_E_CUDA);
    assert_non_null(strstr(err.message, "lb_attention_fp8"));
    unsetenv("LABSE_GPU_ATTN");
    assert_int_equal(lb_gpu_attention_fp8(d8, 0.0f, dqkv, dcu, n, 70, heads, d, 0, &err),
                     LABSE_E_CUDA);
    assert_non_null(strstr(err.message, "lb_attention_fp8"));
    setenv("LABSE_GPU_ATTN", "fp8", 1);
    assert_int_equal(lb_gpu_attention_fp8(d8, 20.0f, dqkv, dcu, n, 70, heads, d, 0, &err),
                     LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "LABSE_GPU_ATTN=fp8"));
    GT_CUDA(cudaDeviceSynchronize());
    if (saved) setenv("LABSE_GPU_ATTN", saved, 1); else unsetenv("LABSE_GPU_ATTN");
    free(saved); free(hqkv); free(want); free(got);
    GT_CUDA(cudaFree(dqkv));
    GT_CUDA(cudaFree(dcu));
    GT_CUDA(cudaFree(d8));
}

/* ---- the short-sequence kernel's own families (g_kernel = LB_ATTN_SHORT) ------------------- */

/* Every length 1..64 alone (the emulator: both sides of each 16-row tile edge), every head
 * dim. */
static void test_short_each_length(void **state) {
    (void)state;
    static const int small_lens[] = {1, 2, 15, 16, 17, 31, 32, 33, 48, 63, 64};
    const int nsmall = (int)(sizeof small_lens / sizeof small_lens[0]);
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di];
        for (int i = 0; i < (g_small ? nsmall : LB_ATTN_SHORT_MAX_LEN); ++i) {
            const int len = g_small ? small_lens[i] : i + 1;
            char name[64];
            snprintf(name, sizeof name, "alone len=%d", len);
            run_case(name, &len, 1, g_small ? 1 : full_heads(d), d, 1.0f, 0);
        }
    }
}

/* Every length 1..64 in one shuffled ragged batch; head counts that leave warps of the last
 * block without a head (4 warps per block for d <= 64, 2 for d = 128). */
static void test_short_mixes(void **state) {
    (void)state;
    gt_rng rng = {g_seed ^ 0x27182ull};
    int lens[LB_ATTN_SHORT_MAX_LEN];
    for (int i = 0; i < LB_ATTN_SHORT_MAX_LEN; ++i) lens[i] = i + 1;
    for (int i = LB_ATTN_SHORT_MAX_LEN - 1; i > 0; --i) {
        const int j = (int)(gt_next(&rng) % (uint64_t)(i + 1));
        const int t = lens[i]; lens[i] = lens[j]; lens[j] = t;
    }
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di];
        const int heads = g_small ? (d == 128 ? 3 : 5) : full_heads(d);
        run_case("mix lens 1..64", lens, LB_ATTN_SHORT_MAX_LEN, heads, d, 1.0f, 0);
        if (!g_small) { /* a realistic short batch: random lengths 5..40 */
            int rl[200];
            for (int i = 0; i < 200; ++i) rl[i] = 5 + (int)(gt_next(&rng) % 36);
            run_case("mix random 5..40", rl, 200, full_heads(d), d, 1.0f, 0);
        }
    }
}

/* Peaked softmax: the running max changes from one 16-key chunk to the next. */
static void test_short_large_scale(void **state) {
    (void)state;
    const int lens[] = {64, 1, 37, 16, 50};
    for (int di = 0; di < NDIMS; ++di) {
        const int d = k_dims[di], heads = g_small ? 1 : full_heads(d);
        run_case("scale x2", lens, 5, heads, d, 2.0f, 0);
        run_case("scale x4", lens, 5, heads, d, 4.0f, 0);
    }
}

/* Zero-length sequences (how a CUDA Graph pads a batch to its bound, attention_short.cuh):
 * skipped, nothing written for them, the others exact. */
static void test_short_padding(void **state) {
    (void)state;
    const int inner[] = {0, 5, 0, 0, 17, 0, 1};
    const int tail[] = {7, 33, 0, 0, 0, 0};
    for (int di = 0; di < NDIMS; ++di) {
        run_case("zero-length inside", inner, 7, 2, k_dims[di], 1.0f, 0);
        run_case("zero-length tail", tail, 6, 2, k_dims[di], 1.0f, 0);
    }
}

/* Past the cut-off the kernel is slower, never wrong. */
static void test_short_long(void **state) {
    (void)state;
    if (g_small) {
        const int lens[] = {129, 5, 65};
        const int lens16[] = {600, 3};
        run_case("past cut-off", lens, 3, 1, 64, 1.0f, 0);
        run_case("past cut-off", lens16, 2, 1, 16, 1.0f, 0);
        return;
    }
    const int lens[] = {1000, 3, 129, 65, 512};
    for (int di = 0; di < NDIMS; ++di)
        run_case("past cut-off", lens, 5, full_heads(k_dims[di]), k_dims[di], 1.0f, 0);
}

/* LABSE_GPU_ATTN: auto (unset, empty, "auto") by the cut-off; tiled / short forced; anything
 * else refused with a message naming the variable. The caller's value is restored. */
static void test_choice(void **state) {
    (void)state;
    const char *old = getenv("LABSE_GPU_ATTN");
    char *saved = old ? strdup(old) : NULL;
    lb_attn_kernel k;
    labse_error err;
    static const char *autos[] = {NULL, "", "auto"};
    for (int i = 0; i < 3; ++i) {
        if (autos[i]) setenv("LABSE_GPU_ATTN", autos[i], 1); else unsetenv("LABSE_GPU_ATTN");
        assert_int_equal(lb_gpu_attn_choose(1, &k, &err), LABSE_OK);
        assert_int_equal(k, LB_ATTN_SHORT);
        assert_int_equal(lb_gpu_attn_choose(LB_ATTN_SHORT_MAX_LEN, &k, &err), LABSE_OK);
        assert_int_equal(k, LB_ATTN_SHORT);
        assert_int_equal(lb_gpu_attn_choose(LB_ATTN_SHORT_MAX_LEN + 1, &k, &err), LABSE_OK);
        assert_int_equal(k, LB_ATTN_TILED);
    }
    setenv("LABSE_GPU_ATTN", "tiled", 1);
    assert_int_equal(lb_gpu_attn_choose(3, &k, &err), LABSE_OK);
    assert_int_equal(k, LB_ATTN_TILED);
    setenv("LABSE_GPU_ATTN", "short", 1);
    assert_int_equal(lb_gpu_attn_choose(512, &k, &err), LABSE_OK);
    assert_int_equal(k, LB_ATTN_SHORT);
    setenv("LABSE_GPU_ATTN", "Short", 1);
    assert_int_equal(lb_gpu_attn_choose(3, &k, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "LABSE_GPU_ATTN=Short"));
    if (saved) setenv("LABSE_GPU_ATTN", saved, 1); else unsetenv("LABSE_GPU_ATTN");
    free(saved);
}

static int use_tiled(void **state) {
    (void)state;
    g_kernel = LB_ATTN_TILED;
    return 0;
}
static int use_short(void **state) {
    (void)state;
    g_kernel = LB_ATTN_SHORT;
    return 0;
}

int main(int argc, char **argv) {
    int short_only = 0;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--small")) g_small = 1;
        else if (!strcmp(argv[i], "--short")) short_only = 1;
        else {
            fprintf(stderr, "usage: %s [--small] [--short]\n", argv[0]);
            return 2;
        }
    }
    gt_require_device();
    const struct CMUnitTest tiled[] = {
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_each_length),
        cmocka_unit_test(test_mixes),
        cmocka_unit_test(test_large_scale),
        cmocka_unit_test(test_long),
        cmocka_unit_test(test_max_len),
        cmocka_unit_test(test_fp8_arguments),
        cmocka_unit_test_teardown(test_fp8, fp8_off),
    };
    /* the short kernel: its own families, then the tiled kernel's length and mix families */
    const struct CMUnitTest short_[] = {
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_fp8_arguments),
        cmocka_unit_test(test_fp8_dispatch),
        cmocka_unit_test_teardown(test_fp8, fp8_off),
        cmocka_unit_test(test_short_each_length),
        cmocka_unit_test(test_short_mixes),
        cmocka_unit_test(test_short_large_scale),
        cmocka_unit_test(test_short_padding),
        cmocka_unit_test(test_short_long),
        cmocka_unit_test(test_each_length),
        cmocka_unit_test(test_mixes),
    };
    const int failed = short_only ? 0 : cmocka_run_group_tests_name("tiled kernel", tiled, use_tiled, NULL);
    return failed + cmocka_run_group_tests_name("short kernel", short_, use_short, NULL);
}
