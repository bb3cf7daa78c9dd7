/* bench_gpu_kernels.c — per-kernel GPU timings at LaBSE's shapes (hidden 768, 12 heads of 64,
 * FFN 3072), and the four cuBLASLt GEMMs of one encoder layer. A benchmark, not a test
 * (correctness is tests/test_k_*.c); built with the GPU backend (tests/gpu/e2e.cmake).
 *
 *   bench_gpu_kernels [--tokens T] [--reps N] [--warmup N] [--vocab V] [--seed S]
 *
 * T tokens (default 16384, the default --batch-tokens) make one packed batch; sequence lengths
 * are drawn uniformly from 20..60 tokens (the bitext's range for LaBSE's vocabulary), and the
 * attention kernel is also timed on sequences of exactly 128 and 512 tokens. Both attention
 * kernels are timed on each (tiled: attention.cu; short: attention_short.cu); the layer estimate
 * takes the one the automatic choice runs for the mix (src/gpu/gpu_attention.h).
 *
 * Method (the device tool's METHOD.md): inputs are random, never zeros; a warm-up; then each
 * launch is timed alone between two CUDA events on one stream, N times, and the median is
 * reported. The buffers rotate over enough copies that one pass over them is >= 3x the L2
 * cache, so repeated launches do not time the cache. GB/s counts the fewest bytes the kernel
 * must move (each input read once, each output written once) over the median time; TFLOP/s
 * counts attention as 4 * sum(L^2) * H (Q K^T and P V) and a GEMM as 2 T K N. Every call is
 * checked, and each kernel's output is checked finite after its timing.
 *
 * The GEMMs: cuBLASLt, fp16 A/B/D, CUBLAS_COMPUTE_32F, fp32 scale, bias epilogue, the first
 * heuristic algorithm, 32 MiB workspace; X[T, K] times W^T with W [N, K] row-major (PyTorch's
 * Linear layout; "TN" in cuBLAS's column-major terms).
 *
 * The last block sums one layer's kernels into an estimate of the encoder's GPU time per
 * batch (12 layers + embedding + pooling; host work and launch gaps not counted), i.e. an
 * upper bound on tokens/s at this batch shape.
 *
 * In the emulation build (LABSE_CUDA_EMU) it runs too, on 64 tokens (no 128/512 attention
 * cases), 2 reps, a 4096-row vocabulary, to prove the program; its numbers are CPU times of
 * the emulator and mean nothing (it says so).
 * Exit status: 0 done, 1 a CUDA/cuBLASLt error or a non-finite output, 2 usage.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.cuh"
#include "attention_short.cuh"
#include "bias_act.cuh"
#include "cuda_compat.h"
#include "embed.cuh"
#include "base/half.h"
#include "layernorm.cuh"
#include "pool.cuh"

/* LaBSE's shapes */
enum { H = 768, HEADS = 12, HEAD_DIM = 64, FF = 3072, MAXPOS = 512, LAYERS = 12, DENSE = 768 };
static const float EPS = 1e-12f;

#define CK(call)                                                                             \
    do {                                                                                     \
        cudaError_t e_ = (call);                                                             \
        if (e_ != cudaSuccess) {                                                             \
            fprintf(stderr, "bench_gpu_kernels: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    cudaGetErrorString(e_));                                                 \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)
#define CKB(call)                                                                            \
    do {                                                                                     \
        cublasStatus_t s_ = (call);                                                          \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                   \
            fprintf(stderr, "bench_gpu_kernels: %s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
                    cublasLtGetStatusString(s_));                                            \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

/* ---- options and shared state ---------------------------------------------------------- */

static int g_reps, g_warmup;
static size_t g_l2 = 0; /* bytes; 0 in the emulator: no rotation */
static cudaStream_t g_stream;
static cudaEvent_t g_ev0, g_ev1;
static uint64_t g_rng;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (g_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static float rng_uniform(void) { return (float)((rng_next() >> 40) * (1.0 / 16777216.0)); }
/* approximately standard normal: sum of 4 uniforms, scaled to variance 1 */
static float rng_normalish(void) {
    float s = rng_uniform() + rng_uniform() + rng_uniform() + rng_uniform() - 2.0f;
    return s * 1.7320508f;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_gpu_kernels: out of host memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void *dev_alloc(size_t bytes) {
    void *p = NULL;
    CK(cudaMalloc(&p, bytes ? bytes : 1));
    return p;
}

/* A device buffer of n fp16 values ~ scale * N(0, 1) (one host draw, uploaded). */
static lb_half *dev_randn_h(size_t n, float scale, float mean) {
    lb_half *h = xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = lb_f32_to_f16(mean + scale * rng_normalish());
    lb_half *d = dev_alloc(n * sizeof *d);
    CK(cudaMemcpy(d, h, n * sizeof *d, cudaMemcpyHostToDevice));
    free(h);
    return d;
}
static float *dev_randn_f(size_t n, float scale, float mean) {
    float *h = xmalloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = mean + scale * rng_normalish();
    float *d = dev_alloc(n * sizeof *d);
    CK(cudaMemcpy(d, h, n * sizeof *d, cudaMemcpyHostToDevice));
    free(h);
    return d;
}
/* `sets` copies of the same random fp16 data (distinct addresses, to defeat the L2). */
static lb_half **dev_sets_h(int sets, size_t n, float scale) {
    lb_half **p = xmalloc((size_t)sets * sizeof *p);
    p[0] = dev_randn_h(n, scale, 0.0f);
    for (int s = 1; s < sets; s++) {
        p[s] = dev_alloc(n * sizeof(lb_half));
        CK(cudaMemcpy(p[s], p[0], n * sizeof(lb_half), cudaMemcpyDeviceToDevice));
    }
    return p;
}
static void dev_sets_free(void **p, int sets) {
    for (int s = 0; s < sets; s++) CK(cudaFree(p[s]));
    free(p);
}

/* Copies needed so that one rotation over `bytes`-sized sets is >= 3x the L2 (at most 16). */
static int sets_for(size_t bytes) {
    if (g_l2 == 0 || bytes == 0) return 1;
    size_t s = (3 * g_l2 + bytes - 1) / bytes;
    return s < 1 ? 1 : s > 16 ? 16 : (int)s;
}

/* Exit 1 when any of the n fp16 values at dev is Inf or NaN. */
static void check_finite_h(const lb_half *dev, size_t n, const char *what) {
    lb_half *h = xmalloc(n * sizeof *h);
    CK(cudaStreamSynchronize(g_stream));
    CK(cudaMemcpy(h, dev, n * sizeof *h, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++)
        if ((h[i] & 0x7c00u) == 0x7c00u) {
            fprintf(stderr, "bench_gpu_kernels: %s: non-finite output at %zu\n", what, i);
            exit(1);
        }
    free(h);
}
static void check_finite_f(const float *dev, size_t n, const char *what) {
    float *h = xmalloc(n * sizeof *h);
    CK(cudaStreamSynchronize(g_stream));
    CK(cudaMemcpy(h, dev, n * sizeof *h, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; i++)
        if (!isfinite(h[i])) {
            fprintf(stderr, "bench_gpu_kernels: %s: non-finite output at %zu\n", what, i);
            exit(1);
        }
    free(h);
}

/* ---- timing ------------------------------------------------------------------------------ */

/* One launch on g_stream using buffer set `set`; returns the launch's error. */
typedef cudaError_t (*launch_fn)(void *ctx, int set);

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median microseconds of one launch (events around each launch), after the warm-up. */
static double time_us(launch_fn f, void *ctx, int sets) {
    for (int w = 0; w < g_warmup; w++) CK(f(ctx, w % sets));
    CK(cudaStreamSynchronize(g_stream));
    float *ms = xmalloc((size_t)g_reps * sizeof *ms);
    for (int r = 0; r < g_reps; r++) {
        CK(cudaEventRecord(g_ev0, g_stream));
        CK(f(ctx, r % sets));
        CK(cudaEventRecord(g_ev1, g_stream));
        CK(cudaEventSynchronize(g_ev1));
        CK(cudaEventElapsedTime(&ms[r], g_ev0, g_ev1));
    }
    qsort(ms, (size_t)g_reps, sizeof *ms, cmp_float);
    double med = g_reps % 2 ? ms[g_reps / 2] : 0.5 * (ms[g_reps / 2 - 1] + ms[g_reps / 2]);
    free(ms);
    return med * 1e3;
}

static void row(const char *kernel, const char *cs, int T, int n, double us, double bytes,
                double flops) {
    char seqs[16] = "-";
    if (n > 0) snprintf(seqs, sizeof seqs, "%d", n);
    printf("%-18s %-16s %6d %5s %10.1f %9.1f", kernel, cs, T, seqs, us,
           bytes / (us * 1e-6) / 1e9);
    if (flops > 0)
        printf(" %8.1f", flops / (us * 1e-6) / 1e12);
    else
        printf(" %8s", "-");
    printf("\n");
    fflush(stdout);
}

/* ---- packed batches ------------------------------------------------------------------------ */

typedef struct batch {
    int n, T, max_len;
    double sum_l2;      /* sum of squared lengths */
    int32_t *cu_dev;    /* [n + 1] */
} batch;

/* Sequences of length lo..hi (uniform) filling exactly T tokens (the last one cut to fit). */
static batch make_batch(int T, int lo, int hi) {
    int32_t *cu = xmalloc(((size_t)T + 1) * sizeof *cu);
    batch b = {0, T, 0, 0.0, NULL};
    cu[0] = 0;
    int t = 0;
    while (t < T) {
        int l = lo + (int)(rng_next() % (uint64_t)(hi - lo + 1));
        if (l > T - t) l = T - t;
        t += l;
        cu[++b.n] = t;
        if (l > b.max_len) b.max_len = l;
        b.sum_l2 += (double)l * l;
    }
    b.cu_dev = dev_alloc(((size_t)b.n + 1) * sizeof(int32_t));
    CK(cudaMemcpy(b.cu_dev, cu, ((size_t)b.n + 1) * sizeof(int32_t), cudaMemcpyHostToDevice));
    free(cu);
    return b;
}

/* ---- the kernels ------------------------------------------------------------------------- */

typedef struct embed_ctx {
    const batch *b;
    lb_half **x;
    int32_t **ids;
    lb_half *word, *pos, *type;
    float *gamma, *beta;
} embed_ctx;
static cudaError_t launch_embed(void *p, int s) {
    embed_ctx *c = p;
    return lb_embed_layernorm(c->x[s], c->ids[s], c->b->cu_dev, c->b->n, c->b->T, c->word,
                              c->pos, c->type, c->gamma, c->beta, H, EPS, g_stream);
}

typedef struct attn_ctx {
    const batch *b;
    lb_half **ctx, **qkv;
    int short_kernel; /* 0: lb_attention (tiled), 1: lb_attention_short */
} attn_ctx;
static cudaError_t launch_attn(void *p, int s) {
    attn_ctx *c = p;
    if (c->short_kernel)
        return lb_attention_short(c->ctx[s], c->qkv[s], c->b->cu_dev, c->b->n, HEADS, HEAD_DIM,
                                  g_stream);
    return lb_attention(c->ctx[s], c->qkv[s], c->b->cu_dev, c->b->n, c->b->max_len, HEADS,
                        HEAD_DIM, g_stream);
}

typedef struct ln_ctx {
    int T;
    lb_half **x, **r;
    float *gamma, *beta;
} ln_ctx;
static cudaError_t launch_ln(void *p, int s) {
    ln_ctx *c = p;
    return lb_add_layernorm(c->x[s], c->r[s], c->gamma, c->beta, c->T, H, EPS, g_stream);
}

typedef struct act_ctx {
    int T;
    lb_half **y;
    lb_half *bias;
} act_ctx;
static cudaError_t launch_act(void *p, int s) {
    act_ctx *c = p;
    return lb_bias_act(c->y[s], c->bias, c->T, FF, LB_KACT_GELU, g_stream);
}

typedef struct pool_ctx {
    const batch *b;
    lb_half **out, **x;
    int mode;
} pool_ctx;
static cudaError_t launch_pool(void *p, int s) {
    pool_ctx *c = p;
    return lb_pool(c->out[s], c->x[s], c->b->cu_dev, c->b->n, H, c->mode, g_stream);
}

typedef struct l2_ctx {
    int n;
    float **out;
    lb_half **y;
} l2_ctx;
static cudaError_t launch_l2(void *p, int s) {
    l2_ctx *c = p;
    return lb_l2norm_out(c->out[s], c->y[s], c->n, DENSE, 1, g_stream);
}

/* ---- cuBLASLt GEMMs ------------------------------------------------------------------------ */

typedef struct gemm_ctx {
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
    void *ws;
    size_t ws_bytes;
    lb_half **w, **x, **y, **bias;
} gemm_ctx;
static cudaError_t launch_gemm(void *p, int s) {
    gemm_ctx *c = p;
    const float alpha = 1.0f, beta = 0.0f;
    cublasStatus_t st = cublasLtMatmul(c->lt, c->desc, &alpha, c->w[s], c->la, c->x[s], c->lb,
                                       &beta, c->y[s], c->ld, c->y[s], c->ld, &c->algo, c->ws,
                                       c->ws_bytes, g_stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "bench_gpu_kernels: cublasLtMatmul: %s\n", cublasLtGetStatusString(st));
        return cudaErrorUnknown;
    }
    return cudaGetLastError();
}

/* Y[T, N] = X[T, K] W[N, K]^T + bias[N]. Returns the median microseconds. */
static double bench_gemm(cublasLtHandle_t lt, void *ws, size_t ws_bytes, int T, int K, int N,
                         const char *name) {
    gemm_ctx c;
    memset(&c, 0, sizeof c);
    c.lt = lt;
    c.ws = ws;
    c.ws_bytes = ws_bytes;
    size_t set_bytes = ((size_t)N * K + (size_t)T * K + (size_t)T * N + (size_t)N) * 2;
    int sets = sets_for(set_bytes);
    c.w = dev_sets_h(sets, (size_t)N * K, 0.02f);
    c.x = dev_sets_h(sets, (size_t)T * K, 1.0f);
    c.y = dev_sets_h(sets, (size_t)T * N, 1.0f);
    c.bias = dev_sets_h(sets, (size_t)N, 0.02f);

    CKB(cublasLtMatmulDescCreate(&c.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CKB(cublasLtMatmulDescSetAttribute(c.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CKB(cublasLtMatmulDescSetAttribute(c.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    CKB(cublasLtMatmulDescSetAttribute(c.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    /* column-major: A = W as K x N (ld K), op T -> N x K; B = X as K x T (ld K); D N x T */
    CKB(cublasLtMatrixLayoutCreate(&c.la, CUDA_R_16F, (uint64_t)K, (uint64_t)N, K));
    CKB(cublasLtMatrixLayoutCreate(&c.lb, CUDA_R_16F, (uint64_t)K, (uint64_t)T, K));
    CKB(cublasLtMatrixLayoutCreate(&c.ld, CUDA_R_16F, (uint64_t)N, (uint64_t)T, N));
    cublasLtMatmulPreference_t pref;
    CKB(cublasLtMatmulPreferenceCreate(&pref));
    CKB(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                             &ws_bytes, sizeof ws_bytes));
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    memset(&heur, 0, sizeof heur);
    /* the bias pointer differs per set: the heuristic only needs it set once */
    CKB(cublasLtMatmulDescSetAttribute(c.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias[0],
                                       sizeof c.bias[0]));
    CKB(cublasLtMatmulAlgoGetHeuristic(lt, c.desc, c.la, c.lb, c.ld, c.ld, pref, 1, &heur, &found));
    if (found < 1) {
        fprintf(stderr, "bench_gpu_kernels: %s: no cuBLASLt algorithm for T %d K %d N %d\n", name,
                T, K, N);
        exit(1);
    }
    c.algo = heur.algo;
    /* one bias for all sets (setting the attribute per launch would time the host too) */
    double us = time_us(launch_gemm, &c, sets);
    char cs[32];
    snprintf(cs, sizeof cs, "%dx%d", K, N);
    double flops = 2.0 * T * K * N;
    row(name, cs, T, 0, us, (double)set_bytes, flops);
    check_finite_h(c.y[0], (size_t)T * N, name);

    CKB(cublasLtMatmulPreferenceDestroy(pref));
    CKB(cublasLtMatrixLayoutDestroy(c.la));
    CKB(cublasLtMatrixLayoutDestroy(c.lb));
    CKB(cublasLtMatrixLayoutDestroy(c.ld));
    CKB(cublasLtMatmulDescDestroy(c.desc));
    dev_sets_free((void **)c.w, sets);
    dev_sets_free((void **)c.x, sets);
    dev_sets_free((void **)c.y, sets);
    dev_sets_free((void **)c.bias, sets);
    return us;
}

/* ---- main ------------------------------------------------------------------------------------ */

static int parse_pos(const char *opt, const char *s, long lo, long hi, long *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_gpu_kernels: %s: '%s' is not in %ld..%ld\n", opt, s, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

int main(int argc, char **argv) {
#ifdef LABSE_CUDA_EMU
    const int emu = 1;
    long T = 64, reps = 2, warmup = 1, vocab = 4096; /* the emulated attention is slow */
#else
    const int emu = 0;
    long T = 16384, reps = 50, warmup = 5, vocab = 501153;
#endif
    long seed = 20240613;
    for (int i = 1; i < argc; i++) {
        long *dst = NULL, lo = 1, hi = 1L << 24;
        const char *a = argv[i];
        if (!strcmp(a, "--tokens")) dst = &T, lo = 60, hi = 1 << 22;
        else if (!strcmp(a, "--reps")) dst = &reps, hi = 100000;
        else if (!strcmp(a, "--warmup")) dst = &warmup, lo = 0, hi = 100000;
        else if (!strcmp(a, "--vocab")) dst = &vocab, lo = 2, hi = 1 << 22;
        else if (!strcmp(a, "--seed")) dst = &seed, lo = 0, hi = 1L << 30;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: bench_gpu_kernels [--tokens T] [--reps N] [--warmup N] [--vocab V] "
                   "[--seed S]\n");
            return 0;
        }
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "bench_gpu_kernels: bad argument '%s' (see --help)\n", a);
            return 2;
        }
        if (!parse_pos(a, argv[++i], lo, hi, dst)) return 2;
    }
    g_reps = (int)reps;
    g_warmup = (int)warmup;
    g_rng = (uint64_t)seed;

    int ndev = 0;
    cudaError_t e = cudaGetDeviceCount(&ndev);
    if (e != cudaSuccess || ndev < 1) {
        printf("bench_gpu_kernels: no CUDA device (%s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 1;
    }
    struct cudaDeviceProp prop; /* 'struct': C sees no typedef in CUDA's header */
    memset(&prop, 0, sizeof prop);
    CK(cudaGetDeviceProperties(&prop, 0));
    if (!emu) g_l2 = prop.l2CacheSize > 0 ? (size_t)prop.l2CacheSize : 0;
    printf("device: %s (sm_%d%d, %d SMs, L2 %.0f MiB, %.1f GiB)\n", prop.name, prop.major,
           prop.minor, prop.multiProcessorCount, prop.l2CacheSize / 1048576.0,
           prop.totalGlobalMem / 1073741824.0);
    if (emu)
        printf("WARNING: emulation build (LABSE_CUDA_EMU): these are CPU times of the emulator, "
               "not GPU figures; the run only proves the program\n");
    printf("shapes: hidden %d, %d heads of %d, FFN %d, vocab %ld; %ld tokens; median of %d "
           "launches after %d warm-up\n",
           H, HEADS, HEAD_DIM, FF, vocab, T, g_reps, g_warmup);
    CK(cudaStreamCreate(&g_stream));
    CK(cudaEventCreate(&g_ev0));
    CK(cudaEventCreate(&g_ev1));

    batch mix = make_batch((int)T, 20, 60);
    /* the fixed-length attention cases need T >= L (not in the emulator's default 64) */
    batch b128 = T >= 128 ? make_batch((int)T, 128, 128) : (batch){0, 0, 0, 0.0, NULL};
    batch b512 = T >= 512 ? make_batch((int)T, 512, 512) : (batch){0, 0, 0, 0.0, NULL};
    const size_t TH = (size_t)T * H;
    printf("%-18s %-16s %6s %5s %10s %9s %8s\n", "kernel", "case", "tokens", "seqs", "us",
           "GB/s", "TFLOP/s");

    /* embedding + LayerNorm */
    double us_embed;
    {
        embed_ctx c;
        memset(&c, 0, sizeof c);
        c.b = &mix;
        double bytes = (double)T * 4 + 2.0 * TH * 2 + (double)mix.max_len * H * 2 + H * 2 +
                       2.0 * H * 4 + (mix.n + 1) * 4.0;
        int sets = sets_for((size_t)bytes);
        c.word = dev_randn_h((size_t)vocab * H, 0.02f, 0.0f);
        c.pos = dev_randn_h((size_t)MAXPOS * H, 0.02f, 0.0f);
        c.type = dev_randn_h((size_t)2 * H, 0.02f, 0.0f);
        c.gamma = dev_randn_f(H, 0.05f, 1.0f);
        c.beta = dev_randn_f(H, 0.02f, 0.0f);
        c.x = dev_sets_h(sets, TH, 1.0f);
        c.ids = xmalloc((size_t)sets * sizeof *c.ids);
        int32_t *ids = xmalloc((size_t)T * sizeof *ids);
        for (long t = 0; t < T; t++) ids[t] = (int32_t)(rng_next() % (uint64_t)vocab);
        for (int s = 0; s < sets; s++) {
            c.ids[s] = dev_alloc((size_t)T * sizeof(int32_t));
            CK(cudaMemcpy(c.ids[s], ids, (size_t)T * sizeof(int32_t), cudaMemcpyHostToDevice));
        }
        free(ids);
        us_embed = time_us(launch_embed, &c, sets);
        row("embed_layernorm", "mix 20-60", (int)T, mix.n, us_embed, bytes, 0);
        check_finite_h(c.x[0], TH, "embed_layernorm");
        dev_sets_free((void **)c.x, sets);
        dev_sets_free((void **)c.ids, sets);
        CK(cudaFree(c.word));
        CK(cudaFree(c.pos));
        CK(cudaFree(c.type));
        CK(cudaFree(c.gamma));
        CK(cudaFree(c.beta));
    }

    /* attention: the bitext-like mix, then 128- and 512-token sequences */
    double us_attn = 0;
    {
        const batch *bs[3] = {&mix, &b128, &b512};
        const char *names[3] = {"mix 20-60", "L=128", "L=512"};
        double bytes = (double)TH * 3 * 2 + (double)TH * 2;
        int sets = sets_for((size_t)bytes);
        attn_ctx c;
        c.qkv = dev_sets_h(sets, TH * 3, 1.0f);
        c.ctx = dev_sets_h(sets, TH, 1.0f);
        for (int k = 0; k < 3; k++)
            for (c.short_kernel = 0; c.short_kernel < 2; c.short_kernel++) {
                if (bs[k]->n == 0) continue;
                c.b = bs[k];
                double us = time_us(launch_attn, &c, sets);
                const int auto_short = bs[k]->max_len <= LB_ATTN_SHORT_MAX_LEN;
                if (k == 0 && c.short_kernel == auto_short) us_attn = us;
                row(c.short_kernel ? "attention short" : "attention tiled", names[k], (int)T,
                    bs[k]->n, us, bytes + (bs[k]->n + 1) * 4.0, 4.0 * bs[k]->sum_l2 * H);
                check_finite_h(c.ctx[0], TH, "attention");
            }
        dev_sets_free((void **)c.qkv, sets);
        dev_sets_free((void **)c.ctx, sets);
    }

    /* residual add + LayerNorm, in place */
    double us_ln;
    {
        ln_ctx c;
        c.T = (int)T;
        double bytes = 3.0 * TH * 2 + 2.0 * H * 4;
        int sets = sets_for((size_t)bytes);
        c.x = dev_sets_h(sets, TH, 1.0f);
        c.r = dev_sets_h(sets, TH, 1.0f);
        c.gamma = dev_randn_f(H, 0.05f, 1.0f);
        c.beta = dev_randn_f(H, 0.02f, 0.0f);
        us_ln = time_us(launch_ln, &c, sets);
        row("add_layernorm", "[T,768]", (int)T, 0, us_ln, bytes, 0);
        check_finite_h(c.x[0], TH, "add_layernorm");
        dev_sets_free((void **)c.x, sets);
        dev_sets_free((void **)c.r, sets);
        CK(cudaFree(c.gamma));
        CK(cudaFree(c.beta));
    }

    /* bias + GELU (erf) on the FFN's [T, 3072], in place */
    double us_act;
    {
        act_ctx c;
        c.T = (int)T;
        double bytes = 2.0 * T * FF * 2 + FF * 2.0;
        int sets = sets_for((size_t)bytes);
        c.y = dev_sets_h(sets, (size_t)T * FF, 1.0f);
        c.bias = dev_randn_h(FF, 0.02f, 0.0f);
        us_act = time_us(launch_act, &c, sets);
        row("bias_act gelu", "[T,3072]", (int)T, 0, us_act, bytes, 0);
        check_finite_h(c.y[0], (size_t)T * FF, "bias_act");
        dev_sets_free((void **)c.y, sets);
        CK(cudaFree(c.bias));
    }

    /* pooling: CLS (LaBSE) and mean (MiniLM) */
    double us_pool = 0;
    for (int mode = LB_KPOOL_CLS; mode <= LB_KPOOL_MEAN; mode++) {
        pool_ctx c;
        c.b = &mix;
        c.mode = mode;
        double in = mode == LB_KPOOL_CLS ? (double)mix.n * H * 2 : (double)TH * 2;
        double bytes = in + (double)mix.n * H * 2 + (mix.n + 1) * 4.0;
        int sets = sets_for((size_t)bytes);
        c.x = dev_sets_h(sets, TH, 1.0f);
        c.out = dev_sets_h(sets, (size_t)mix.n * H, 1.0f);
        double us = time_us(launch_pool, &c, sets);
        if (mode == LB_KPOOL_CLS) us_pool = us;
        row("pool", mode == LB_KPOOL_CLS ? "cls" : "mean", (int)T, mix.n, us, bytes, 0);
        check_finite_h(c.out[0], (size_t)mix.n * H, "pool");
        dev_sets_free((void **)c.x, sets);
        dev_sets_free((void **)c.out, sets);
    }

    /* L2 normalisation into fp32 rows */
    double us_l2;
    {
        l2_ctx c;
        c.n = mix.n;
        double bytes = (double)mix.n * DENSE * (2 + 4);
        int sets = sets_for((size_t)bytes);
        c.y = dev_sets_h(sets, (size_t)mix.n * DENSE, 1.0f);
        c.out = xmalloc((size_t)sets * sizeof *c.out);
        for (int s = 0; s < sets; s++) c.out[s] = dev_alloc((size_t)mix.n * DENSE * sizeof(float));
        us_l2 = time_us(launch_l2, &c, sets);
        row("l2norm_out", "[n,768]", (int)T, mix.n, us_l2, bytes, 0);
        check_finite_f(c.out[0], (size_t)mix.n * DENSE, "l2norm_out");
        dev_sets_free((void **)c.y, sets);
        dev_sets_free((void **)c.out, sets);
    }

    /* the four GEMMs of a layer */
    double us_gemm = 0;
    {
        cublasLtHandle_t lt;
        CKB(cublasLtCreate(&lt));
        size_t ws_bytes = (size_t)32 << 20;
        void *ws = dev_alloc(ws_bytes);
        us_gemm += bench_gemm(lt, ws, ws_bytes, (int)T, H, 3 * H, "gemm qkv");
        us_gemm += bench_gemm(lt, ws, ws_bytes, (int)T, H, H, "gemm attn-out");
        us_gemm += bench_gemm(lt, ws, ws_bytes, (int)T, H, FF, "gemm ffn-up");
        us_gemm += bench_gemm(lt, ws, ws_bytes, (int)T, FF, H, "gemm ffn-down");
        /* the Dense 768->768 on pooled rows is per sentence: negligible, not timed */
        CK(cudaFree(ws));
        CKB(cublasLtDestroy(lt));
    }

    /* one batch of the encoder, from the parts (mix lengths) */
    double layer = us_gemm + us_attn + 2 * us_ln + us_act;
    double total = LAYERS * layer + us_embed + us_pool + us_l2;
    double flops = (double)T * 2.0 * LAYERS * ((double)H * 3 * H + (double)H * H + 2.0 * H * FF) +
                   LAYERS * 4.0 * mix.sum_l2 * H;
    printf("sum of parts, one layer (4 GEMMs + attention mix + 2 add_layernorm + bias_act): "
           "%.1f us (GEMMs %.0f%%)\n",
           layer, 100.0 * us_gemm / layer);
    printf("encoder estimate for one %ld-token batch (%d layers + embed + pool + l2norm, no "
           "host, no launch gaps): %.1f us -> %.2f M tokens/s, %.1f TFLOP/s\n",
           T, LAYERS, total, T / (total * 1e-6) / 1e6, flops / (total * 1e-6) / 1e12);
    if (emu) printf("WARNING: emulation build: the numbers above are not GPU figures\n");

    CK(cudaFree(mix.cu_dev));
    if (b128.cu_dev) CK(cudaFree(b128.cu_dev));
    if (b512.cu_dev) CK(cudaFree(b512.cu_dev));
    CK(cudaEventDestroy(g_ev0));
    CK(cudaEventDestroy(g_ev1));
    CK(cudaStreamDestroy(g_stream));
    printf("bench_gpu_kernels: done\n");
    return 0;
}
