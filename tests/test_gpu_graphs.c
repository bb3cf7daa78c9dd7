/* test_gpu_graphs.c — CUDA Graphs in the GPU encoder (src/gpu/gpu_forward.c, fused path): a batch
 * is padded to a bucket shape with filler sequences, the shape's launch sequence is captured
 * once and replayed; the fillers must not change any real sentence's row.
 *
 * Usage: test_gpu_graphs MODEL_DIR   (emulator: label emu; GPU: label gpu; 77 without a device
 * or model)
 *
 * Checks, on batches of random ids with ragged lengths (1..max, several sizes that share and
 * that do not share a bucket):
 *   - graphs on vs off (LABSE_GPU_GRAPHS=1 / 0, two contexts): max |difference| <= 1e-3 per
 *     component — the batch-composition bound of tests/test_gpu_encoder.c (rows do not see
 *     each other; only GEMM tiling may differ with the padded shape, within fp16 rounding of
 *     a unit vector's components, 2^-11);
 *   - one capture per padded shape: a batch encoded again replays its graph (no capture, the
 *     same rows bit for bit), and the captures stay fewer than the batches;
 *   - every output finite. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "gpu/gpu.h"
#include "gpu_test_util.h"

#define ABS_MAX 1e-3

static const char *g_dir;

/* A fused-path context (graphs belong to it) with LABSE_GPU_GRAPHS=graphs; the caller's
 * LABSE_GPU_PATH is put back afterwards. */
static lb_gpu_ctx *make_ctx(const lb_model *m, const lb_gpu_weights *w, const char *graphs) {
    const char *p = getenv("LABSE_GPU_PATH");
    char *path = p ? strdup(p) : NULL;
    setenv("LABSE_GPU_PATH", "fused", 1);
    setenv("LABSE_GPU_GRAPHS", graphs, 1);
    lb_gpu_ctx *c = NULL;
    labse_error e;
    if (lb_gpu_ctx_new(m, w, 2048, 1, &c, &e) != LABSE_OK) fail_msg("context: %s", e.message);
    unsetenv("LABSE_GPU_GRAPHS");
    if (path) setenv("LABSE_GPU_PATH", path, 1);
    else unsetenv("LABSE_GPU_PATH");
    free(path);
    return c;
}

static void test_graphs(void **state) {
    (void)state;
    labse_error e;
    lb_model *m = NULL;
    lb_gpu_weights *w = NULL;
    assert_int_equal(lb_model_load(g_dir, 0, &m, &e), LABSE_OK);
    assert_int_equal(lb_gpu_weights_new(m, 0, &w, &e), LABSE_OK);
    lb_gpu_ctx *on = make_ctx(m, w, "1"), *off = make_ctx(m, w, "0");
    int enabled = 0, captured = 0, live = 0;
    lb_gpu_ctx_graph_stats(on, &enabled, NULL, NULL);
    assert_int_equal(enabled, 1);
    lb_gpu_ctx_graph_stats(off, &enabled, NULL, NULL);
    assert_int_equal(enabled, 0);
    const int dim = m->cfg.dim, maxl = m->cfg.max_seq_length < 80 ? m->cfg.max_seq_length : 80;
    /* sequence counts: small batches pad to the same shapes */
    static const int NS[] = {1, 2, 5, 5, 9, 1, 17, 9};
    const int nbatch = (int)(sizeof NS / sizeof *NS);
    gt_rng r = {0x9a4f};
    double worst = 0;
    for (int b = 0; b < nbatch; b++) {
        const int n = NS[b];
        int32_t cu[32];
        cu[0] = 0;
        for (int i = 0; i < n; i++) cu[i + 1] = cu[i] + 1 + (int)(gt_next(&r) % (uint64_t)maxl);
        int32_t *ids = malloc(sizeof *ids * (size_t)cu[n]);
        for (int t = 0; t < cu[n]; t++) ids[t] = 1 + (int32_t)(gt_next(&r) % (uint64_t)(m->cfg.vocab_size - 1));
        float *a = malloc(sizeof *a * (size_t)n * dim), *z = malloc(sizeof *z * (size_t)n * dim);
        int before = 0;
        assert_int_equal(lb_gpu_encode(on, ids, cu, n, a, &e), LABSE_OK);
        assert_int_equal(lb_gpu_encode(off, ids, cu, n, z, &e), LABSE_OK);
        /* the same batch again: its shape's graph is replayed, nothing captured, same rows */
        lb_gpu_ctx_graph_stats(on, NULL, &before, NULL);
        float *a2 = malloc(sizeof *a2 * (size_t)n * dim);
        assert_int_equal(lb_gpu_encode(on, ids, cu, n, a2, &e), LABSE_OK);
        lb_gpu_ctx_graph_stats(on, NULL, &captured, NULL);
        assert_int_equal(captured, before);
        assert_memory_equal(a, a2, sizeof *a2 * (size_t)n * dim);
        free(a2);
        for (size_t i = 0; i < (size_t)n * dim; i++) {
            if (!isfinite(a[i])) fail_msg("batch %d: non-finite output %zu", b, i);
            const double d = fabs((double)a[i] - z[i]);
            if (d > worst) worst = d;
        }
        free(ids), free(a), free(z);
    }
    lb_gpu_ctx_graph_stats(on, NULL, &captured, &live);
    printf("  %d batches, %d graphs captured (%d held), graphs on vs off max abs %.2e\n", nbatch,
           captured, live, worst);
    assert_true(captured >= 1 && captured < nbatch); /* some batches shared a shape */
    assert_true(worst <= ABS_MAX);
    lb_gpu_ctx_free(on);
    lb_gpu_ctx_free(off);
    lb_gpu_weights_free(w);
    lb_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_gpu_graphs MODEL_DIR\n");
        return 2;
    }
    g_dir = argv[1];
    struct stat sb;
    if (stat(g_dir, &sb) != 0) {
        printf("%s missing: skipped\n", g_dir);
        return 77;
    }
    gt_require_device();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_graphs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
