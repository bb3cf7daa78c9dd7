/* bench_mine.c — throughput and memory of exact k-NN + margin mining on the CPU (src/mine/knn.c,
 * src/mine/margin.c). A benchmark, not a test.
 *
 *   bench_mine [--src N] [--tgt N] [--dim D] [--k K] [--block-rows B] [--threads T]
 *              [--device cpu|cuda|cuda:N|auto]
 *
 * --device picks the k-NN backend (lb_knn_backend_select; default cpu): cuda is the GPU
 * backend (src/mine/knn_gpu.c: fp32 cuBLASLt tiles + exact top-k; larger --block-rows, e.g. 8192,
 * suit it better). On the GPU "peak RSS" is host memory only.
 *
 * The corpora are generated row by row on the fly (deterministic pseudo-random vectors,
 * normalised by the k-NN like any input), so nothing of size N is resident except the k-NN
 * tables (8 x k bytes per row) and the mining arrays: run it under `/usr/bin/time -v` and the
 * peak RSS is the working memory of the search itself. Prints one line per phase and a summary:
 * pairs scored per second = src x tgt / k-NN seconds, and the GEMM rate 2 x src x tgt x dim.
 */
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* splitmix64 of (seed, row, column) → uniform in [-1, 1). Thread-safe (pure). */
static void gen_rows(void *ctx, uint64_t row0, size_t n, size_t dim, float *out) {
    const uint64_t seed = *(const uint64_t *)ctx;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++) {
            uint64_t z = seed + ((row0 + i) * dim + j + 1) * 0x9E3779B97F4A7C15ull;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
            z ^= z >> 31;
            out[i * dim + j] = (float)((double)(z >> 40) / (double)(1ull << 23) - 1.0);
        }
}

static const char *arg_str(int argc, char **argv, const char *name, const char *def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return argv[i + 1];
    return def;
}

static long arg_long(int argc, char **argv, const char *name, long def) {
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return strtol(argv[i + 1], NULL, 10);
    return def;
}

int main(int argc, char **argv) {
    const long ns = arg_long(argc, argv, "--src", 20000), nt = arg_long(argc, argv, "--tgt", 20000);
    const long dim = arg_long(argc, argv, "--dim", 768), k = arg_long(argc, argv, "--k", 4);
    const long block = arg_long(argc, argv, "--block-rows", 2048);
    const long threads = arg_long(argc, argv, "--threads", 0);
    const char *dev = arg_str(argc, argv, "--device", "cpu");
    labse_device device = LABSE_DEVICE_CPU;
    int cuda_device = 0;
    if (strcmp(dev, "cuda") == 0 || strcmp(dev, "gpu") == 0) {
        device = LABSE_DEVICE_CUDA;
    } else if (strncmp(dev, "cuda:", 5) == 0 && dev[5] >= '0' && dev[5] <= '9') {
        device = LABSE_DEVICE_CUDA;
        cuda_device = atoi(dev + 5);
    } else if (strcmp(dev, "auto") == 0) {
        device = LABSE_DEVICE_AUTO;
    } else if (strcmp(dev, "cpu") != 0) {
        fprintf(stderr, "bench_mine: --device: '%s' is not cpu, cuda, cuda:N or auto\n", dev);
        return 2;
    }
    if (ns < 1 || nt < 1 || dim < 1 || k < 1 || k > ns || k > nt || block < 1 || threads < 0) {
        fprintf(stderr, "bench_mine: bad arguments\n");
        return 2;
    }
    uint64_t seed_a = 1, seed_b = 2;
    lb_emb *a = NULL, *b = NULL;
    labse_error err = {0};
    const lb_knn_backend *be = NULL;
    if (lb_knn_backend_select(device, cuda_device, &be, &err) != LABSE_OK) {
        fprintf(stderr, "bench_mine: %s\n", err.message);
        return 1;
    }
    if (lb_emb_generator((uint64_t)ns, (size_t)dim, gen_rows, &seed_a, "src", &a, &err) ||
        lb_emb_generator((uint64_t)nt, (size_t)dim, gen_rows, &seed_b, "tgt", &b, &err)) {
        fprintf(stderr, "bench_mine: %s\n", err.message);
        return 1;
    }
    int nth = threads > 0 ? (int)threads : omp_get_max_threads();
    printf("bench_mine: %ld x %ld, dim %ld, k %ld, block %ld, %d threads, k-NN on %s\n", ns, nt,
           dim, k, block, nth, be->name);
    double t0 = now();
    if (lb_emb_validate(a, nth, &err) || lb_emb_validate(b, nth, &err)) {
        fprintf(stderr, "bench_mine: %s\n", err.message);
        return 1;
    }
    double t1 = now();
    lb_knn_params p = {(int)k, (size_t)block, (int)threads};
    lb_topk fwd, bwd;
    if (lb_knn_run(be, a, b, &p, &fwd, &bwd, &err) != LABSE_OK) {
        fprintf(stderr, "bench_mine: %s\n", err.message);
        return 1;
    }
    double t2 = now();
    lb_pair *pairs = NULL;
    size_t np = 0;
    if (lb_mine_pairs(&fwd, &bwd, LB_MARGIN_RATIO, LB_RETR_MAX, -INFINITY, &pairs, &np, &err)) {
        fprintf(stderr, "bench_mine: %s\n", err.message);
        return 1;
    }
    double t3 = now();
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double knn_s = t2 - t1, scored = (double)ns * (double)nt;
    printf("validate  %.3f s\n", t1 - t0);
    printf("k-NN      %.3f s  %.4g pairs scored/s  %.1f GFLOP/s (2*src*tgt*dim)\n", knn_s,
           scored / knn_s, 2.0 * scored * (double)dim / knn_s * 1e-9);
    printf("margin    %.3f s  (%zu pairs, max retrieval, ratio margin)\n", t3 - t2, np);
    printf("peak RSS  %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    free(pairs);
    lb_topk_free(&fwd);
    lb_topk_free(&bwd);
    lb_emb_free(a);
    lb_emb_free(b);
    return 0;
}
