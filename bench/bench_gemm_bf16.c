/* bench_gemm_bf16.c — one LaBSE-shaped GEMM (activations [M, K] times weights [N, K]^T, fp32
 * out) timed in fp32 (OpenBLAS sgemm) and in bf16 through each library available here:
 * OpenBLAS cblas_sbgemm and oneDNN matmul (bf16 src and weights; and fp32 src with bf16
 * weights, if this oneDNN implements that mix); and oneDNN's fp32 matmul beside OpenBLAS's. The bf16 timings include converting the fp32
 * activations to bf16 (the encoder must do it before each GEMM), and are also given without.
 *
 *   usage: bench_gemm_bf16 [M K N [reps]]      default 4096 768 3072 10 (LaBSE FFN up)
 *
 * Built by hand, not by CMake (it is a measurement, run once to choose the library):
 *   gcc -O2 -fopenmp bench/bench_gemm_bf16.c -o /tmp/bench_gemm_bf16 -lopenblas -ldnnl -ldl -lm
 * cblas_sbgemm is looked up at run time: Debian 12's libopenblas (0.3.21) declares it in
 * cblas.h but is built without BUILD_BFLOAT16 and does not export it.
 * Prints GFLOP/s and the max relative difference of each bf16 result from fp32. Single
 * process, all cores (OMP_NUM_THREADS to change); the sides are interleaved round by round so
 * that load from other processes falls on all of them alike. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dlfcn.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* fp32 -> bf16, round to nearest even (inputs are finite here). */
static void to_bf16(const float *x, uint16_t *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        u += 0x7fffu + ((u >> 16) & 1u);
        y[i] = (uint16_t)(u >> 16);
    }
}

#define CHK(call)                                                                              \
    do {                                                                                       \
        dnnl_status_t s_ = (call);                                                             \
        if (s_ != dnnl_success) { fprintf(stderr, "%s: status %d\n", #call, (int)s_); return NULL; } \
    } while (0)

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t str;
    dnnl_primitive_t prim;
    dnnl_memory_t src, wei, dst;
} dmm;

/* A oneDNN matmul dst[M,N] = src[M,K] * wei^T, wei stored [N,K] row-major (format "ba" of a
 * KxN matrix). src_dt: dnnl_bf16 or dnnl_f32. Returns NULL when unimplemented. */
static dmm *dmm_new(int M, int K, int N, dnnl_data_type_t src_dt, dnnl_data_type_t wei_dt,
                    int packed, void *src, void *wei, float *dst) {
    dmm *d = calloc(1, sizeof *d);
    dnnl_memory_desc_t sd, wd, dd;
    dnnl_dims_t s = {M, K}, w = {K, N}, o = {M, N};
    CHK(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
    CHK(dnnl_stream_create(&d->str, d->eng, dnnl_stream_default_flags));
    CHK(dnnl_memory_desc_init_by_tag(&sd, 2, s, src_dt, dnnl_ab));
    CHK(dnnl_memory_desc_init_by_tag(&wd, 2, w, wei_dt, packed ? dnnl_format_tag_any : dnnl_ba));
    CHK(dnnl_memory_desc_init_by_tag(&dd, 2, o, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t md;
    CHK(dnnl_matmul_desc_init(&md, &sd, &wd, NULL, &dd));
    dnnl_primitive_desc_t pd;
    if (dnnl_primitive_desc_create(&pd, &md, NULL, d->eng, NULL) != dnnl_success) {
        free(d);
        return NULL;
    }
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    printf("  oneDNN %s src, %s %s weights: implementation %s\n", src_dt == dnnl_bf16 ? "bf16" : "f32",
           packed ? "packed" : "plain", wei_dt == dnnl_bf16 ? "bf16" : "f32", impl ? impl : "?");
    CHK(dnnl_primitive_create(&d->prim, pd));
    CHK(dnnl_memory_create(&d->src, &sd, d->eng, src));
    if (packed) {
        /* the weights as the primitive wants them, reordered once (as at model load) */
        dnnl_memory_desc_t plain;
        CHK(dnnl_memory_desc_init_by_tag(&plain, 2, w, wei_dt, dnnl_ba));
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        dnnl_memory_t from;
        CHK(dnnl_memory_create(&from, &plain, d->eng, wei));
        CHK(dnnl_memory_create(&d->wei, want, d->eng, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t rpd;
        CHK(dnnl_reorder_primitive_desc_create(&rpd, &plain, d->eng, want, d->eng, NULL));
        dnnl_primitive_t rp;
        CHK(dnnl_primitive_create(&rp, rpd));
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, d->wei}};
        CHK(dnnl_primitive_execute(rp, d->str, 2, ra));
        dnnl_stream_wait(d->str);
    } else {
        CHK(dnnl_memory_create(&d->wei, &wd, d->eng, wei));
    }
    CHK(dnnl_memory_create(&d->dst, &dd, d->eng, dst));
    dnnl_primitive_desc_destroy(pd);
    return d;
}

static void dmm_run(dmm *d) {
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, d->src}, {DNNL_ARG_WEIGHTS, d->wei},
                            {DNNL_ARG_DST, d->dst}};
    dnnl_primitive_execute(d->prim, d->str, 3, a);
    dnnl_stream_wait(d->str);
}

static double maxrel(const float *a, const float *ref, size_t n) {
    double mx = 0, scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(ref[i]));
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(a[i] - ref[i]));
    return mx / scale;
}

typedef void (*sbgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                          blasint, blasint, float, const bfloat16 *, blasint, const bfloat16 *,
                          blasint, float, float *, blasint);

int main(int argc, char **argv) {
    sbgemm_fn sbgemm = (sbgemm_fn)dlsym(RTLD_DEFAULT, "cblas_sbgemm");
    if (!sbgemm) printf("  OpenBLAS cblas_sbgemm: not exported by this libopenblas\n");
    int M = 4096, K = 768, N = 3072, reps = 10;
    if (argc >= 4) { M = atoi(argv[1]); K = atoi(argv[2]); N = atoi(argv[3]); }
    if (argc >= 5) reps = atoi(argv[4]);
    printf("M %d K %d N %d, OpenBLAS core %s, %s\n", M, K, N, openblas_get_corename(),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "OPENBLAS_CORETYPE unset");
    float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
    float *y32 = malloc(sizeof(float) * M * N), *ysb = malloc(sizeof(float) * M * N);
    float *ydn = malloc(sizeof(float) * M * N), *ydp = malloc(sizeof(float) * M * N), *ydf = malloc(sizeof(float) * M * N);
    uint16_t *xb = malloc(2 * (size_t)M * K), *wb = malloc(2 * (size_t)N * K);
    srand(1);
    for (size_t i = 0; i < (size_t)M * K; i++) x[i] = (float)((double)rand() / RAND_MAX) - 0.5f;
    for (size_t i = 0; i < (size_t)N * K; i++) w[i] = ((float)((double)rand() / RAND_MAX) - 0.5f) * 0.1f;
    to_bf16(w, wb, (size_t)N * K);
    dmm *db = dmm_new(M, K, N, dnnl_bf16, dnnl_bf16, 0, xb, wb, ydn);
    dmm *dp = dmm_new(M, K, N, dnnl_bf16, dnnl_bf16, 1, xb, wb, ydp);
    dmm *df = dmm_new(M, K, N, dnnl_f32, dnnl_bf16, 0, x, wb, ydf);
    float *yd32 = malloc(sizeof(float) * M * N);
    dmm *d32 = dmm_new(M, K, N, dnnl_f32, dnnl_f32, 0, x, w, yd32); /* oneDNN's own fp32 */
    if (!df) printf("  oneDNN f32 src + bf16 weights: not implemented\n");
    double td32 = 1e9, tdp = 1e9, t32 = 1e9, tsb = 1e9, tsbg = 1e9, tdn = 1e9, tdng = 1e9, tdf = 1e9, tcv = 1e9;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f,
                    y32, N);
        double t1 = now();
        to_bf16(x, xb, (size_t)M * K);
        double t2 = now();
        if (sbgemm) sbgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, xb, K, wb, K, 0.0f,
                     ysb, N);
        double t3 = now();
        t32 = fmin(t32, t1 - t0);
        tcv = fmin(tcv, t2 - t1);
        tsbg = fmin(tsbg, t3 - t2);
        tsb = fmin(tsb, t3 - t1);
        if (db) {
            t0 = now();
            to_bf16(x, xb, (size_t)M * K);
            t1 = now();
            dmm_run(db);
            t2 = now();
            tdn = fmin(tdn, t2 - t0);
            tdng = fmin(tdng, t2 - t1);
        }
        if (dp) {
            t0 = now();
            to_bf16(x, xb, (size_t)M * K);
            dmm_run(dp);
            tdp = fmin(tdp, now() - t0);
        }
        if (d32) {
            t0 = now();
            dmm_run(d32);
            td32 = fmin(td32, now() - t0);
        }
        if (df) {
            t0 = now();
            dmm_run(df);
            tdf = fmin(tdf, now() - t0);
        }
    }
    const double fl = 2.0 * M * N * K * 1e-9;
    printf("fp32 sgemm                         %7.1f GFLOP/s  %.2f ms\n", fl / t32, t32 * 1e3);
    printf("activation fp32->bf16 conversion   %.2f ms\n", tcv * 1e3);
    if (sbgemm)
        printf("OpenBLAS sbgemm (+conversion)      %7.1f GFLOP/s  %.2f ms  (GEMM alone %.1f GFLOP/s)  max rel diff %.2e\n",
           fl / tsb, tsb * 1e3, fl / tsbg, maxrel(ysb, y32, (size_t)M * N));
    if (db)
        printf("oneDNN bf16 matmul (+conversion)   %7.1f GFLOP/s  %.2f ms  (GEMM alone %.1f GFLOP/s)  max rel diff %.2e\n",
               fl / tdn, tdn * 1e3, fl / tdng, maxrel(ydn, y32, (size_t)M * N));
    if (d32)
        printf("oneDNN f32 matmul                  %7.1f GFLOP/s  %.2f ms  max rel diff %.2e\n",
               fl / td32, td32 * 1e3, maxrel(yd32, y32, (size_t)M * N));
    if (dp)
        printf("oneDNN bf16, packed weights (+cv)  %7.1f GFLOP/s  %.2f ms  max rel diff %.2e\n",
               fl / tdp, tdp * 1e3, maxrel(ydp, y32, (size_t)M * N));
    if (df)
        printf("oneDNN f32 src, bf16 weights       %7.1f GFLOP/s  %.2f ms  max rel diff %.2e\n",
               fl / tdf, tdf * 1e3, maxrel(ydf, y32, (size_t)M * N));
    printf("ratio to fp32: sbgemm %.2fx, oneDNN bf16 %.2fx, packed %.2fx, oneDNN f32 src %.2fx\n",
           sbgemm ? t32 / tsb : 0, db ? t32 / tdn : 0, dp ? t32 / tdp : 0, df ? t32 / tdf : 0);
    return 0;
}
