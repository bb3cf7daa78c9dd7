/* test_k_rowwise.c — the element-wise / row-wise kernels against a float64 oracle:
 *   lb_embed_layernorm (kernels/embed.cu), lb_add_layernorm (kernels/layernorm.cu),
 *   lb_bias_act (kernels/bias_act.cu), lb_pool and lb_l2norm_out (kernels/pool.cu).
 *
 * Runs in both builds: the emulator (label emu, `--small`: lengths {1,2,31,33,64,129} and a
 * mix) and a real GPU (label gpu: lengths {1,2,31,32,33,63,64,65,127,128,129,255,256,511,512}
 * and a mix of all of them); exit 77 without a device. Widths H in {64, 384, 768} (vector
 * paths) and 100 (generic path); the vector-capable widths are also run on a misaligned
 * pointer, which forces the generic path.
 *
 * Tolerance, derived from precision as flash-attention's tests do. For every case we compute
 *   ref64   the maths in float64 from the same fp16 inputs (the oracle), and
 *   naive16 the same maths in fp32 on the CPU, the result rounded to fp16 once,
 * and require  max|gpu - ref64| <= 2 * max|naive16 - ref64| + floor,  floor = 2^-11 * max|ref64|.
 * The floor is half an fp16 ulp at the largest output's magnitude: rounding the result to fp16
 * alone may cost that much, and on small cases the naive version can round luckily on every
 * element (its max error then understates what a correct kernel may show). NaN never passes.
 * lb_l2norm_out writes fp32: every element must satisfy |gpu - ref64| <= 1e-5 * |ref64| (the fp32
 * norm of <= 768 terms is good to ~1e-6 relative; the division adds half an fp32 ulp).
 * Copies (CLS pooling, widening) must be exact. Every output element is checked, outputs are
 * poisoned (0xFF bytes = NaN) before each run, and a guard zone after (and, when misaligned,
 * before) every output must stay poisoned. Inputs are fresh random values for every case, from
 * a seeded generator (LB_TEST_SEED overrides the seed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gpu_test_util.h"

#include "bias_act.cuh"
#include "embed.cuh"
#include "layernorm.cuh"
#include "pool.cuh"

#define GUARD 64          /* poisoned elements after every output */
#define EPS 1e-12f        /* BERT's layer_norm_eps */
#define POISON16 0xFFFFu

static int g_small;
static uint64_t g_seed = 0x1ab5e5eedull;
static cudaStream_t g_stream;

static const int LENS_FULL[] = {1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 511, 512};
static const int LENS_SMALL[] = {1, 2, 31, 33, 64, 129};
static const int HS[] = {64, 384, 768, 100};

/* ---- batches: cu_seqlens of a packed ragged batch ---- */

#define MAX_SEQS 32
typedef struct batch {
    int n, T;
    int32_t cu[MAX_SEQS + 1];
    char name[48];
} batch;

static int lens(const int **out) {
    *out = g_small ? LENS_SMALL : LENS_FULL;
    return g_small ? (int)(sizeof LENS_SMALL / sizeof *LENS_SMALL)
                   : (int)(sizeof LENS_FULL / sizeof *LENS_FULL);
}

/* Batches: three (small: two) sequences of length L for every L of the set, then all the
 * lengths of the set in a shuffled order (the mix). Returns the count; b has room for 16. */
static int make_batches(batch *b, gt_rng *rng) {
    const int *L;
    const int nl = lens(&L), reps = g_small ? 2 : 3;
    int k = 0;
    for (int i = 0; i < nl; i++, k++) {
        b[k].n = reps;
        b[k].cu[0] = 0;
        for (int s = 0; s < reps; s++) b[k].cu[s + 1] = b[k].cu[s] + L[i];
        b[k].T = b[k].cu[reps];
        snprintf(b[k].name, sizeof b[k].name, "%dx%d", reps, L[i]);
    }
    int order[16];
    for (int i = 0; i < nl; i++) order[i] = L[i];
    for (int i = nl - 1; i > 0; i--) {
        const int j = (int)(gt_next(rng) % (uint64_t)(i + 1));
        const int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    b[k].n = nl;
    b[k].cu[0] = 0;
    for (int s = 0; s < nl; s++) b[k].cu[s + 1] = b[k].cu[s] + order[s];
    b[k].T = b[k].cu[nl];
    snprintf(b[k].name, sizeof b[k].name, "mix%d", nl);
    return k + 1;
}

static gt_rng case_rng(uint64_t tag) {
    gt_rng r = {g_seed ^ (tag * 0x9E3779B97F4A7C15ull)};
    gt_next(&r);
    return r;
}

static void fill_f16(uint16_t *h, size_t count, gt_rng *r, float offset, float scale) {
    for (size_t i = 0; i < count; i++) h[i] = gt_h(offset + scale * gt_normal(r));
}

/* ---- the rule and its bookkeeping ---- */

typedef struct op_stats {
    const char *op;
    double worst_ratio, err, bound; /* the case closest to its bound */
    long cases;
} op_stats;

static void note(op_stats *st, double err, double bound) {
    const double ratio = bound > 0 ? err / bound : (err > 0 ? INFINITY : 0);
    if (st->cases == 0 || ratio > st->worst_ratio) {
        st->worst_ratio = ratio;
        st->err = err;
        st->bound = bound;
    }
    st->cases++;
}

static void report(const op_stats *st) {
    printf("%-22s %4ld cases; closest to bound: max|gpu-ref64| %.3g <= %.3g (%.0f%%)\n", st->op,
           st->cases, st->err, st->bound, 100 * st->worst_ratio);
}

/* The fp16 rule over count outputs (see the header). */
static void rule_f16(op_stats *st, const char *ctx, const uint16_t *gpu, const double *ref,
                     const uint16_t *naive, size_t count) {
    double eg = 0, en = 0, mr = 0;
    size_t wi = 0;
    for (size_t i = 0; i < count; i++) {
        const float g = gt_f(gpu[i]);
        if (isnan(g)) fail_msg("%s %s: NaN at element %zu (gpu bits 0x%04x)", st->op, ctx, i, gpu[i]);
        const double d = fabs((double)g - ref[i]);
        if (d > eg) eg = d, wi = i;
        const double dn = fabs((double)gt_f(naive[i]) - ref[i]);
        if (dn > en) en = dn;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    const double bound = 2 * en + ldexp(mr, -11);
    if (!(eg <= bound))
        fail_msg("%s %s: max|gpu-ref64| %.6g at %zu (gpu %.6g, ref %.6g) > bound %.6g "
                 "(naive16 err %.6g, max|ref| %.6g)",
                 st->op, ctx, eg, wi, gt_f(gpu[wi]), ref[wi], bound, en, mr);
    note(st, eg, bound);
}

static void check_poison16(const char *op, const char *ctx, const uint16_t *h, size_t count) {
    for (size_t i = 0; i < count; i++)
        if (h[i] != POISON16) fail_msg("%s %s: guard element %zu overwritten (0x%04x)", op, ctx, i, h[i]);
}

/* ---- LayerNorm references (shared by embed and add_layernorm) ---- */

/* float64: out = (v - mean) / sqrt(var + eps) * g + b. */
static void ln_ref64(const double *v, const float *g, const float *b, int H, double *out) {
    double mean = 0, var = 0;
    for (int i = 0; i < H; i++) mean += v[i];
    mean /= H;
    for (int i = 0; i < H; i++) var += (v[i] - mean) * (v[i] - mean);
    var /= H;
    const double rstd = 1.0 / sqrt(var + (double)EPS);
    for (int i = 0; i < H; i++) out[i] = (v[i] - mean) * rstd * g[i] + b[i];
}

/* the same maths in fp32, rounded to fp16 once. */
static void ln_naive16(const float *v, const float *g, const float *b, int H, uint16_t *out) {
    float mean = 0, var = 0;
    for (int i = 0; i < H; i++) mean += v[i];
    mean /= (float)H;
    for (int i = 0; i < H; i++) var += (v[i] - mean) * (v[i] - mean);
    var /= (float)H;
    const float rstd = 1.0f / sqrtf(var + EPS);
    for (int i = 0; i < H; i++) out[i] = gt_h((v[i] - mean) * rstd * g[i] + b[i]);
}

static void make_gamma_beta(gt_rng *r, int H, float *g, float *b) {
    for (int i = 0; i < H; i++) {
        g[i] = 1.0f + 0.2f * gt_normal(r);
        b[i] = 0.1f * gt_normal(r);
    }
}

/* ---- lb_add_layernorm ---- */

/* One case: T rows of width H; resid: with r; mis: x and r one element off 16-byte alignment
 * (generic path); offset/scale of x. */
static void ln_case(op_stats *st, const char *bname, int T, int H, int resid, int mis,
                    float offset, float scale, uint64_t tag) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "[%s T=%d H=%d r=%d misaligned=%d offset=%g]", bname, T, H, resid,
             mis, offset);
    gt_rng rng = case_rng(tag);
    const size_t TH = (size_t)T * H, tot = mis + TH + GUARD;
    uint16_t *x = malloc(tot * 2), *r = malloc(tot * 2), *naive = malloc(TH * 2);
    float *g = malloc(H * sizeof(float)), *b = malloc(H * sizeof(float)), *v32 = malloc(H * sizeof(float));
    double *ref = malloc(TH * sizeof(double)), *v64 = malloc(H * sizeof(double));
    assert_non_null(x); assert_non_null(r); assert_non_null(naive); assert_non_null(ref);
    for (size_t i = 0; i < tot; i++) x[i] = r[i] = POISON16;
    fill_f16(x + mis, TH, &rng, offset, scale);
    fill_f16(r + mis, TH, &rng, 0.0f, 1.0f);
    make_gamma_beta(&rng, H, g, b);
    for (int t = 0; t < T; t++) {
        for (int i = 0; i < H; i++) {
            const size_t k = mis + (size_t)t * H + i;
            v64[i] = (double)gt_f(x[k]) + (resid ? (double)gt_f(r[k]) : 0.0);
            v32[i] = gt_f(x[k]) + (resid ? gt_f(r[k]) : 0.0f);
        }
        ln_ref64(v64, g, b, H, ref + (size_t)t * H);
        ln_naive16(v32, g, b, H, naive + (size_t)t * H);
    }
    uint16_t *dx = gt_upload(x, tot * 2), *dr = gt_upload(r, tot * 2);
    float *dg = gt_upload(g, H * sizeof(float)), *db = gt_upload(b, H * sizeof(float));
    GT_CUDA(lb_add_layernorm(dx + mis, resid ? dr + mis : NULL, dg, db, T, H, EPS, g_stream));
    gt_download(x, dx, tot * 2);
    rule_f16(st, ctx, x + mis, ref, naive, TH);
    check_poison16(st->op, ctx, x, mis);
    check_poison16(st->op, ctx, x + mis + TH, GUARD);
    GT_CUDA(cudaFree(dx)); GT_CUDA(cudaFree(dr)); GT_CUDA(cudaFree(dg)); GT_CUDA(cudaFree(db));
    free(x), free(r), free(naive), free(g), free(b), free(v32), free(ref), free(v64);
}

static void test_add_layernorm(void **state) {
    (void)state;
    op_stats st = {.op = "lb_add_layernorm"};
    batch bs[16];
    gt_rng br = case_rng(1);
    const int nb = make_batches(bs, &br);
    uint64_t tag = 1000;
    for (size_t h = 0; h < sizeof HS / sizeof *HS; h++) {
        const int H = HS[h];
        for (int k = 0; k < nb; k++) {
            gt_rng pr = case_rng(++tag);
            const float off = gt_uniform(&pr, -2, 2), sc = gt_uniform(&pr, 0.5f, 4);
            ln_case(&st, bs[k].name, bs[k].T, H, 1, 0, off, sc, ++tag);
        }
        const batch *mix = &bs[nb - 1];
        ln_case(&st, mix->name, mix->T, H, 0, 0, 0.5f, 2.0f, ++tag);    /* r = NULL */
        ln_case(&st, mix->name, mix->T, H, 1, 1, -1.0f, 1.5f, ++tag);   /* generic path */
        ln_case(&st, mix->name, mix->T, H, 1, 0, 40.0f, 0.5f, ++tag);   /* |mean| >> std */
        ln_case(&st, "3x1", 3, H, 0, 0, 0.0f, 1e-3f, ++tag);            /* tiny variance */
        ln_case(&st, "3x1", 3, H, 0, 0, 0.5f, 0.0f, ++tag); /* var = 0: needs eps, out = beta */
    }
    /* wider than the vector path (H / 8 > 1024) and than the shared-memory row cache
     * (H * 4 > 48 KiB): the generic kernel recomputing the row for each pass */
    ln_case(&st, "3x1", 3, 12296, 1, 0, 0.3f, 1.0f, ++tag);
    /* the 48 KiB boundary of static + dynamic shared memory: a 12256-float row plus the
     * kernel's static red[32] fill it exactly (cached); 12288 floats would need 128 bytes more
     * (a launch error without the opt-in, on a GPU and on the emulator): recomputed */
    ln_case(&st, "3x1", 3, 12256, 1, 0, 0.3f, 1.0f, ++tag);
    ln_case(&st, "3x1", 3, 12288, 1, 0, 0.3f, 1.0f, ++tag);
    report(&st);
}

/* ---- lb_embed_layernorm ---- */

#define EMB_V 1000
#define EMB_P 512
#define EMB_TYPES 2

static void embed_case(op_stats *st, const batch *bt, int H, int V, int mis, const uint16_t *word,
                       const uint16_t *pos, const uint16_t *type, const uint16_t *dword,
                       const uint16_t *dpos, const uint16_t *dtype, uint64_t tag) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "[%s T=%d H=%d misaligned=%d]", bt->name, bt->T, H, mis);
    gt_rng rng = case_rng(tag);
    const int T = bt->T;
    const size_t TH = (size_t)T * H, tot = mis + TH + GUARD;
    int32_t *ids = malloc(T * sizeof(int32_t));
    uint16_t *x = malloc(tot * 2), *naive = malloc(TH * 2);
    float *g = malloc(H * sizeof(float)), *b = malloc(H * sizeof(float)), *v32 = malloc(H * sizeof(float));
    double *ref = malloc(TH * sizeof(double)), *v64 = malloc(H * sizeof(double));
    assert_non_null(ids); assert_non_null(x); assert_non_null(naive); assert_non_null(ref);
    for (int t = 0; t < T; t++) ids[t] = (int32_t)(gt_next(&rng) % (uint64_t)V);
    make_gamma_beta(&rng, H, g, b);
    for (int s = 0; s < bt->n; s++)
        for (int t = bt->cu[s]; t < bt->cu[s + 1]; t++) {
            const uint16_t *w = word + (size_t)ids[t] * H, *p = pos + (size_t)(t - bt->cu[s]) * H;
            for (int i = 0; i < H; i++) {
                v64[i] = (double)gt_f(w[i]) + (double)gt_f(p[i]) + (double)gt_f(type[i]);
                v32[i] = gt_f(w[i]) + gt_f(p[i]) + gt_f(type[i]);
            }
            ln_ref64(v64, g, b, H, ref + (size_t)t * H);
            ln_naive16(v32, g, b, H, naive + (size_t)t * H);
        }
    uint16_t *dx = gt_dev_alloc(tot * 2);
    GT_CUDA(cudaMemset(dx, 0xFF, tot * 2));
    int32_t *dids = gt_upload(ids, T * sizeof(int32_t));
    int32_t *dcu = gt_upload(bt->cu, (bt->n + 1) * sizeof(int32_t));
    float *dg = gt_upload(g, H * sizeof(float)), *db = gt_upload(b, H * sizeof(float));
    GT_CUDA(lb_embed_layernorm(dx + mis, dids, dcu, bt->n, T, dword, dpos, dtype, dg, db, H, EPS,
                               g_stream));
    gt_download(x, dx, tot * 2);
    rule_f16(st, ctx, x + mis, ref, naive, TH);
    check_poison16(st->op, ctx, x, mis);
    check_poison16(st->op, ctx, x + mis + TH, GUARD);
    GT_CUDA(cudaFree(dx)); GT_CUDA(cudaFree(dids)); GT_CUDA(cudaFree(dcu));
    GT_CUDA(cudaFree(dg)); GT_CUDA(cudaFree(db));
    free(ids), free(x), free(naive), free(g), free(b), free(v32), free(ref), free(v64);
}

static void test_embed_layernorm(void **state) {
    (void)state;
    op_stats st = {.op = "lb_embed_layernorm"};
    batch bs[16];
    gt_rng br = case_rng(2);
    const int nb = make_batches(bs, &br);
    uint64_t tag = 2000;
    /* the usual widths, then one wider than the vector path and the shared-memory row cache
     * (generic kernel recomputing the row), on one small batch and a 4-word vocabulary; 12256
     * and 12288: the 48 KiB boundary of the row cache plus the static red[32] (see above) */
    const int HE[] = {64, 384, 768, 100, 12296, 12256, 12288};
    for (size_t h = 0; h < sizeof HE / sizeof *HE; h++) {
        const int H = HE[h], wide = H > 4096, V = wide ? 4 : EMB_V, P = wide ? 129 : EMB_P;
        /* fresh tables for every H: word ~ N(0, 0.5²), pos ~ N(0, 0.2²), type ~ N(0, 0.1²) */
        gt_rng tr = case_rng(++tag);
        uint16_t *word = malloc((size_t)V * H * 2), *pos = malloc((size_t)P * H * 2),
                 *type = malloc((size_t)EMB_TYPES * H * 2);
        assert_non_null(word); assert_non_null(pos); assert_non_null(type);
        fill_f16(word, (size_t)V * H, &tr, 0.0f, 0.5f);
        fill_f16(pos, (size_t)P * H, &tr, 0.0f, 0.2f);
        fill_f16(type, (size_t)EMB_TYPES * H, &tr, 0.0f, 0.1f);
        uint16_t *dword = gt_upload(word, (size_t)V * H * 2);
        uint16_t *dpos = gt_upload(pos, (size_t)P * H * 2);
        uint16_t *dtype = gt_upload(type, (size_t)EMB_TYPES * H * 2);
        if (wide) {
            batch b = {.n = 3, .T = 6, .cu = {0, 1, 3, 6}, .name = "1+2+3"};
            embed_case(&st, &b, H, V, 0, word, pos, type, dword, dpos, dtype, ++tag);
        } else {
            for (int k = 0; k < nb; k++)
                embed_case(&st, &bs[k], H, V, 0, word, pos, type, dword, dpos, dtype, ++tag);
            embed_case(&st, &bs[nb - 1], H, V, 1, word, pos, type, dword, dpos, dtype, ++tag);
        }
        GT_CUDA(cudaFree(dword)); GT_CUDA(cudaFree(dpos)); GT_CUDA(cudaFree(dtype));
        free(word), free(pos), free(type);
    }
    report(&st);
}

/* ---- lb_bias_act ---- */

static const char *ACT_NAME[] = {"identity", "tanh", "gelu", "relu", "gelu_tanh"};
#define N_ACTS 5

static double act64(double v, int act) {
    switch (act) {
    case LB_KACT_TANH: return tanh(v);
    case LB_KACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case LB_KACT_RELU: return v < 0 ? 0 : v;
    case LB_KACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    default: return v;
    }
}

static float act32(float v, int act) {
    switch (act) {
    case LB_KACT_TANH: return tanhf(v);
    case LB_KACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678f));
    case LB_KACT_RELU: return v < 0 ? 0 : v;
    case LB_KACT_GELU_TANH:
        return 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
    default: return v;
    }
}

/* Spacing of fp16 numbers at |v| (2^-24 in the subnormal range). */
static double ulp16(double v) {
    v = fabs(v);
    if (v < 0x1p-14) return 0x1p-24;
    int e;
    frexp(v, &e); /* v = m 2^e, m in [0.5, 1) */
    return ldexp(1.0, e - 11);
}

static void bias_act_case(op_stats *st, const char *bname, int rows, int N, int act, int with_bias,
                          int mis, uint64_t tag) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "[%s rows=%d N=%d act=%s bias=%d misaligned=%d]", bname, rows, N,
             ACT_NAME[act], with_bias, mis);
    gt_rng rng = case_rng(tag);
    const size_t RN = (size_t)rows * N, tot = mis + RN + GUARD;
    uint16_t *y = malloc(tot * 2), *bias = malloc((size_t)(N + 1) * 2), *naive = malloc(RN * 2);
    double *ref = malloc(RN * sizeof(double));
    assert_non_null(y); assert_non_null(bias); assert_non_null(naive); assert_non_null(ref);
    for (size_t i = 0; i < tot; i++) y[i] = POISON16;
    fill_f16(y + mis, RN, &rng, 0.0f, 3.0f);
    bias[0] = bias[N] = POISON16;
    fill_f16(bias + mis, N, &rng, 0.0f, 0.5f);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < N; c++) {
            const size_t k = (size_t)r * N + c;
            const float yv = gt_f(y[mis + k]), bv = with_bias ? gt_f(bias[mis + c]) : 0.0f;
            ref[k] = act64((double)yv + (double)bv, act);
            naive[k] = gt_h(act32(yv + bv, act));
        }
    uint16_t *y0 = malloc(RN * 2);
    assert_non_null(y0);
    memcpy(y0, y + mis, RN * 2);
    uint16_t *dy = gt_upload(y, tot * 2), *db = gt_upload(bias, (size_t)(N + 1) * 2);
    GT_CUDA(lb_bias_act(dy + mis, with_bias ? db + mis : NULL, rows, N, act, g_stream));
    gt_download(y, dy, tot * 2);
    rule_f16(st, ctx, y + mis, ref, naive, RN);
    /* Element-wise too, because the outputs span many binades (GELU and ReLU tails, tanh near
     * 0) and a max-abs rule only sees the largest: every element within one fp16 ulp of the
     * float64 value (a correctly rounded result is within half an ulp; the other half covers an
     * fp32 evaluation error that crosses a rounding boundary) plus 2^-22 (|v| + 1), v = y + b:
     * the fp32 error of evaluating act(v) (erff/tanhf are within 2 fp32 ulps of numbers <= 1,
     * so 0.5 v (1 + erf) is off by at most |v| 2^-23 where 1 + erf cancels). This is what tells
     * the erf GELU from the tanh approximation (they differ by up to ~1e-3, i.e. many ulps on
     * the negative side). */
    for (size_t k = 0; k < RN; k++) {
        const int c = (int)(k % (size_t)N);
        const double v = (double)gt_f(y0[k]) + (with_bias ? (double)gt_f(bias[mis + c]) : 0.0);
        const double err = fabs((double)gt_f(y[mis + k]) - ref[k]);
        const double bound = ulp16(ref[k]) + 0x1p-22 * (fabs(v) + 1.0);
        if (!(err <= bound))
            fail_msg("%s %s: element %zu (v %.6g): gpu %.8g, ref %.8g, err %.3g > %.3g (ulp %.3g)",
                     st->op, ctx, k, v, gt_f(y[mis + k]), ref[k], err, bound, ulp16(ref[k]));
    }
    check_poison16(st->op, ctx, y, mis);
    check_poison16(st->op, ctx, y + mis + RN, GUARD);
    GT_CUDA(cudaFree(dy)); GT_CUDA(cudaFree(db));
    free(y), free(y0), free(bias), free(naive), free(ref);
}

static void test_bias_act(void **state) {
    (void)state;
    op_stats st = {.op = "lb_bias_act"};
    batch bs[16];
    gt_rng br = case_rng(3);
    const int nb = make_batches(bs, &br);
    uint64_t tag = 3000;
    /* the widths of the other ops, plus the FFN's 3072 (LaBSE) */
    const int NS[] = {64, 384, 768, 100, 3072};
    const int nn = g_small ? 4 : 5;
    for (int h = 0; h < nn; h++) {
        const int N = NS[h];
        /* elementwise: the rows only scale the work, so each length runs one activation (in
         * turn) and the mix runs all five, with and without bias, and misaligned. */
        for (int k = 0; k < nb - 1; k++)
            bias_act_case(&st, bs[k].name, bs[k].T, N, k % N_ACTS, 1, 0, ++tag);
        const batch *mix = &bs[nb - 1];
        for (int act = 0; act < N_ACTS; act++) {
            bias_act_case(&st, mix->name, mix->T, N, act, 1, 0, ++tag);
            bias_act_case(&st, mix->name, mix->T, N, act, 0, 0, ++tag);
            bias_act_case(&st, mix->name, mix->T, N, act, 1, 1, ++tag);
        }
    }
    report(&st);
}

/* ---- lb_pool ---- */

static void pool_case(op_stats *st, const batch *bt, int H, int mode, uint64_t tag) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "[%s n=%d H=%d mode=%s]", bt->name, bt->n, H,
             mode == LB_KPOOL_CLS ? "cls" : "mean");
    gt_rng rng = case_rng(tag);
    const int n = bt->n;
    const size_t TH = (size_t)bt->T * H, NH = (size_t)n * H;
    uint16_t *x = malloc(TH * 2), *out = malloc((NH + GUARD) * 2), *naive = malloc(NH * 2);
    double *ref = malloc(NH * sizeof(double));
    assert_non_null(x); assert_non_null(out); assert_non_null(naive); assert_non_null(ref);
    fill_f16(x, TH, &rng, gt_uniform(&rng, -1, 1), 2.0f);
    for (int s = 0; s < n; s++)
        for (int i = 0; i < H; i++) {
            double a64 = 0;
            float a32 = 0;
            for (int t = bt->cu[s]; t < bt->cu[s + 1]; t++) {
                a64 += gt_f(x[(size_t)t * H + i]);
                a32 += gt_f(x[(size_t)t * H + i]);
            }
            const int L = bt->cu[s + 1] - bt->cu[s];
            ref[(size_t)s * H + i] = a64 / L;
            naive[(size_t)s * H + i] = gt_h(a32 / (float)L);
        }
    uint16_t *dx = gt_upload(x, TH * 2), *dout = gt_dev_alloc((NH + GUARD) * 2);
    int32_t *dcu = gt_upload(bt->cu, (n + 1) * sizeof(int32_t));
    GT_CUDA(cudaMemset(dout, 0xFF, (NH + GUARD) * 2));
    GT_CUDA(lb_pool(dout, dx, dcu, n, H, mode, g_stream));
    gt_download(out, dout, (NH + GUARD) * 2);
    if (mode == LB_KPOOL_CLS) {
        for (int s = 0; s < n; s++)
            for (int i = 0; i < H; i++)
                if (out[(size_t)s * H + i] != x[(size_t)bt->cu[s] * H + i])
                    fail_msg("%s %s: CLS row %d col %d: 0x%04x, want 0x%04x", st->op, ctx, s, i,
                             out[(size_t)s * H + i], x[(size_t)bt->cu[s] * H + i]);
        note(st, 0, 0);
    } else {
        rule_f16(st, ctx, out, ref, naive, NH);
    }
    check_poison16(st->op, ctx, out + NH, GUARD);
    GT_CUDA(cudaFree(dx)); GT_CUDA(cudaFree(dout)); GT_CUDA(cudaFree(dcu));
    free(x), free(out), free(naive), free(ref);
}

static void test_pool(void **state) {
    (void)state;
    op_stats st = {.op = "lb_pool"};
    batch bs[16];
    gt_rng br = case_rng(4);
    const int nb = make_batches(bs, &br);
    uint64_t tag = 4000;
    for (size_t h = 0; h < sizeof HS / sizeof *HS; h++)
        for (int k = 0; k < nb; k++) {
            pool_case(&st, &bs[k], HS[h], LB_KPOOL_MEAN, ++tag);
            pool_case(&st, &bs[k], HS[h], LB_KPOOL_CLS, ++tag);
        }
    report(&st);
}

/* ---- lb_l2norm_out ---- */

/* n rows of width N; zero_row >= 0: that row is all zeros (F.normalize gives zeros). */
static void l2_case(op_stats *st, int n, int N, int normalize, int zero_row, uint64_t tag) {
    char ctx[128];
    snprintf(ctx, sizeof ctx, "[n=%d N=%d normalize=%d zero_row=%d]", n, N, normalize, zero_row);
    gt_rng rng = case_rng(tag);
    const size_t NN = (size_t)n * N;
    uint16_t *y = malloc(NN * 2);
    float *out = malloc((NN + GUARD) * sizeof(float));
    assert_non_null(y); assert_non_null(out);
    /* rows of very different scales: 1e-3 .. 1e2 */
    for (int s = 0; s < n; s++) {
        const float sc = powf(10.0f, gt_uniform(&rng, -3, 2));
        fill_f16(y + (size_t)s * N, N, &rng, 0.0f, sc);
    }
    if (zero_row >= 0)
        for (int i = 0; i < N; i++) y[(size_t)zero_row * N + i] = 0;
    uint16_t *dy = gt_upload(y, NN * 2);
    float *dout = gt_dev_alloc((NN + GUARD) * sizeof(float));
    GT_CUDA(cudaMemset(dout, 0xFF, (NN + GUARD) * sizeof(float)));
    GT_CUDA(lb_l2norm_out(dout, dy, n, N, normalize, g_stream));
    gt_download(out, dout, (NN + GUARD) * sizeof(float));
    double worst = 0, worst_bound = 0, worst_ratio = 0;
    for (int s = 0; s < n; s++) {
        double ss = 0;
        for (int i = 0; i < N; i++) ss += (double)gt_f(y[(size_t)s * N + i]) * gt_f(y[(size_t)s * N + i]);
        const double d = normalize ? fmax(sqrt(ss), 1e-12) : 1.0;
        for (int i = 0; i < N; i++) {
            const size_t k = (size_t)s * N + i;
            const double ref = gt_f(y[k]) / d, err = fabs((double)out[k] - ref);
            /* widening is exact; the normalised value is good to 1e-5 relative */
            const double bound = normalize ? 1e-5 * fabs(ref) : 0.0;
            if (isnan(out[k]) || !(err <= bound))
                fail_msg("%s %s: row %d col %d: %.9g, ref %.9g (err %.3g > %.3g)", st->op, ctx,
                         s, i, out[k], ref, err, bound);
            if (bound > 0 && err / bound > worst_ratio)
                worst_ratio = err / bound, worst = err, worst_bound = bound;
        }
    }
    for (int i = 0; i < GUARD; i++) {
        uint32_t bits;
        memcpy(&bits, &out[NN + i], 4);
        if (bits != 0xFFFFFFFFu) fail_msg("%s %s: guard element %d overwritten", st->op, ctx, i);
    }
    note(st, worst, worst_bound);
    GT_CUDA(cudaFree(dy)); GT_CUDA(cudaFree(dout));
    free(y), free(out);
}

static void test_l2norm_out(void **state) {
    (void)state;
    op_stats st = {.op = "lb_l2norm_out"};
    const int *L;
    const int nl = lens(&L);
    uint64_t tag = 5000;
    for (size_t h = 0; h < sizeof HS / sizeof *HS; h++) {
        for (int k = 0; k < nl; k++) l2_case(&st, L[k], HS[h], 1, -1, ++tag);
        l2_case(&st, 33, HS[h], 1, 17, ++tag);
        l2_case(&st, 33, HS[h], 0, 5, ++tag);
    }
    report(&st);
}

/* ---- arguments ---- */

static void test_arguments(void **state) {
    (void)state;
    const int H = 64;
    const size_t bytes = 4 * (size_t)H * sizeof(float);
    void *a = gt_dev_alloc(bytes), *b = gt_dev_alloc(bytes), *c = gt_dev_alloc(bytes);
    int32_t cu[2] = {0, 1};
    int32_t *dcu = gt_upload(cu, sizeof cu);
    GT_CUDA(cudaMemset(a, 0xFF, bytes));
    GT_CUDA(cudaMemset(b, 0, bytes));
    GT_CUDA(cudaMemset(c, 0, bytes));
    const cudaError_t INV = cudaErrorInvalidValue;
    /* unknown activation / pooling mode */
    assert_int_equal(lb_bias_act(a, NULL, 1, H, N_ACTS, g_stream), INV);
    assert_int_equal(lb_bias_act(a, NULL, 1, H, -1, g_stream), INV);
    assert_int_equal(lb_pool(a, b, dcu, 1, H, 2, g_stream), INV);
    assert_int_equal(lb_pool(a, b, dcu, 1, H, -1, g_stream), INV);
    /* bad sizes and NULL pointers */
    assert_int_equal(lb_add_layernorm(a, NULL, c, c, 1, 0, EPS, g_stream), INV);
    assert_int_equal(lb_add_layernorm(a, NULL, c, c, -1, H, EPS, g_stream), INV);
    assert_int_equal(lb_add_layernorm(NULL, NULL, c, c, 1, H, EPS, g_stream), INV);
    assert_int_equal(lb_add_layernorm(a, NULL, NULL, c, 1, H, EPS, g_stream), INV);
    assert_int_equal(lb_add_layernorm(a, NULL, c, c, 1, H, -1.0f, g_stream), INV);
    assert_int_equal(lb_embed_layernorm(a, dcu, dcu, 1, 1, b, b, b, c, c, 0, EPS, g_stream), INV);
    assert_int_equal(lb_embed_layernorm(a, dcu, dcu, 0, 1, b, b, b, c, c, H, EPS, g_stream), INV);
    assert_int_equal(lb_embed_layernorm(a, NULL, dcu, 1, 1, b, b, b, c, c, H, EPS, g_stream), INV);
    assert_int_equal(lb_embed_layernorm(a, dcu, dcu, 1, 1, b, NULL, b, c, c, H, EPS, g_stream), INV);
    assert_int_equal(lb_bias_act(a, NULL, 1, 0, LB_KACT_GELU, g_stream), INV);
    assert_int_equal(lb_bias_act(a, NULL, -1, H, LB_KACT_GELU, g_stream), INV);
    assert_int_equal(lb_bias_act(NULL, NULL, 1, H, LB_KACT_GELU, g_stream), INV);
    assert_int_equal(lb_pool(a, b, dcu, 1, 0, LB_KPOOL_MEAN, g_stream), INV);
    assert_int_equal(lb_pool(a, b, NULL, 1, H, LB_KPOOL_MEAN, g_stream), INV);
    assert_int_equal(lb_pool(a, b, dcu, -1, H, LB_KPOOL_MEAN, g_stream), INV);
    assert_int_equal(lb_l2norm_out(a, b, 1, 0, 1, g_stream), INV);
    assert_int_equal(lb_l2norm_out(a, NULL, 1, H, 1, g_stream), INV);
    assert_int_equal(lb_l2norm_out(a, b, -1, H, 1, g_stream), INV);
    /* nothing to do: success, and nothing written (a stays poisoned) */
    assert_int_equal(lb_add_layernorm(a, NULL, c, c, 0, H, EPS, g_stream), cudaSuccess);
    assert_int_equal(lb_embed_layernorm(a, dcu, dcu, 1, 0, b, b, b, c, c, H, EPS, g_stream), cudaSuccess);
    assert_int_equal(lb_embed_layernorm(a, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, NULL, H, EPS, g_stream),
                     cudaSuccess);
    assert_int_equal(lb_bias_act(a, NULL, 0, H, LB_KACT_GELU, g_stream), cudaSuccess);
    assert_int_equal(lb_pool(a, b, dcu, 0, H, LB_KPOOL_MEAN, g_stream), cudaSuccess);
    assert_int_equal(lb_l2norm_out(a, b, 0, H, 1, g_stream), cudaSuccess);
    unsigned char *h = malloc(bytes);
    assert_non_null(h);
    gt_download(h, a, bytes);
    for (size_t i = 0; i < bytes; i++)
        if (h[i] != 0xFF) fail_msg("a call with nothing to do wrote byte %zu", i);
    /* the stream is still healthy */
    GT_CUDA(cudaGetLastError());
    free(h);
    GT_CUDA(cudaFree(a)); GT_CUDA(cudaFree(b)); GT_CUDA(cudaFree(c)); GT_CUDA(cudaFree(dcu));
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--small") == 0) g_small = 1;
        else {
            fprintf(stderr, "usage: %s [--small]\n", argv[0]);
            return 2;
        }
    }
    const char *filter = getenv("LB_TEST_FILTER"); /* e.g. "test_pool" or "*layernorm" */
    if (filter && *filter) cmocka_set_test_filter(filter);
    const char *seed = getenv("LB_TEST_SEED");
    if (seed && *seed) g_seed = strtoull(seed, NULL, 0);
    gt_require_device();
    GT_CUDA(cudaStreamCreate(&g_stream));
    printf("seed 0x%llx, %s sizes\n", (unsigned long long)g_seed, g_small ? "small" : "full");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arguments),     cmocka_unit_test(test_add_layernorm),
        cmocka_unit_test(test_embed_layernorm), cmocka_unit_test(test_bias_act),
        cmocka_unit_test(test_pool),          cmocka_unit_test(test_l2norm_out),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    GT_CUDA(cudaStreamDestroy(g_stream));
    return rc;
}
