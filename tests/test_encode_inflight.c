/* test_encode_inflight.c — labse_encode with batches in flight (api/labse.c: the ring of the
 * session's backend, depth 2 on a GPU, 1 on the CPU) against the synchronous path, through
 * the public API, on one model folder.
 *
 * Usage: test_encode_inflight MODEL_DIR [small|full]
 *   the emulator (label emu, `small`: 40 bitext lines) and a real GPU (label gpu, `full`:
 *   1,000 lines); exits 77 when there is no CUDA device or MODEL_DIR is missing.
 *
 * The reference ("sequential") is the synchronous loop labse_encode was before: the same
 * windows (lb_window_cut), order (lb_bucket_order) and batches (lb_pack_next, lb_pack_ids,
 * pipeline/pack.h), each batch through labse_encode_ids (the backend's synchronous encode)
 * and scattered to input order. A small token budget (48) and window (17 texts) make many
 * batches over several windows (the test asserts >= 3 batches and >= 2 windows).
 *
 * Checks and tolerances:
 *   - labse_encode == sequential, byte for byte, on the GPU and on the CPU: the same batches
 *     through the same kernels on the same device; only the order of host-side waiting
 *     differs, which must not change a bit (tolerance 0).
 *   - the GPU really keeps two batches in flight (a wrapper around the session's backend
 *     counts submits not yet waited: the maximum is the backend's depth, 2), and every
 *     submitted batch is waited exactly once, also after an error.
 *   - GPU fp16 vs CPU fp32: cosine >= 0.999 per text (the tolerance of test_gpu_encoder.c,
 *     justified there: fp16 storage rounds to 2^-11 relative; a wrong row is far below).
 *   - an error injected in the 2nd batch, at submit and at wait: labse_encode returns it
 *     (status and message, also through labse_session_errmsg), leaves nothing in flight,
 *     counts no text it did not finish, and the next call on the same session gives the
 *     reference bytes again.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "gpu_test_util.h"
#include "labse.h"
#include "pipeline/pack.h"

#define COS_MIN 0.999
#define BATCH_TOKENS 48
#define WINDOW 17

static const char *g_dir;
static int g_full;
static labse_model *g_cpu, *g_gpu;
static labse_session *g_scpu, *g_sgpu;
static int g_dim, g_maxlen;
static const char **g_texts;
static size_t g_n;
static char *g_buf;
static float *g_ref_gpu, *g_ref_cpu; /* the sequential rows */

/* ---- the synchronous reference ---------------------------------------------------------- */

/* Encode texts[0..n) window by window, batch by batch, synchronously (labse_encode_ids), as
 * labse_encode did before it kept batches in flight. Counts windows and batches. */
static void encode_sequential(labse_model *m, labse_session *s, const char *const *texts,
                              size_t n, float *out, int *windows, int *batches) {
    const size_t maxlen = (size_t)g_maxlen, dim = (size_t)g_dim;
    int32_t *ids = malloc(n * maxlen * sizeof *ids), *packed = malloc(n * maxlen * sizeof *ids);
    int32_t *ntok = malloc(n * sizeof *ntok), *cu = malloc((n + 1) * sizeof *cu);
    const int32_t **ptr = malloc(n * sizeof *ptr);
    uint32_t *order = malloc(n * sizeof *order);
    float *rows = malloc(n * dim * sizeof *rows);
    assert_non_null(ids && packed && ntok && cu && ptr && order && rows);
    const lb_pack_budget budget = lb_pack_budget_of(BATCH_TOKENS, g_maxlen);
    labse_error e;
    *windows = *batches = 0;
    for (size_t first = 0; first < n;) {
        size_t w = lb_window_cut(texts + first, NULL, n - first, WINDOW, LB_WINDOW_BYTES);
        for (size_t i = 0; i < w; i++) {
            ptr[i] = ids + i * maxlen;
            size_t k = labse_tokenize(m, texts[first + i],
                                      strlen(texts[first + i]), ids + i * maxlen, NULL, &e);
            assert_true(k >= 2);
            ntok[i] = (int32_t)k;
        }
        assert_int_equal(lb_bucket_order(ntok, w, g_maxlen, order), 0);
        for (size_t at = 0; at < w;) {
            size_t nb = lb_pack_next(ntok, order, at, w, budget, w);
            lb_pack_ids(ptr, ntok, order + at, nb, packed, cu);
            assert_int_equal(labse_encode_ids(s, packed, cu, nb, rows, &e), LABSE_OK);
            for (size_t q = 0; q < nb; q++)
                memcpy(out + (first + order[at + q]) * dim, rows + q * dim, dim * sizeof *out);
            at += nb;
            (*batches)++;
        }
        (*windows)++;
        first += w;
    }
    free(ids); free(packed); free(ntok); free(cu); free(ptr); free(order); free(rows);
}

/* ---- a backend wrapper: counts batches in flight, injects one fault --------------------- */

typedef struct fault_be {
    lb_backend inner;       /* the session's backend as it was */
    int fail_submit_at;     /* 1-based submit that fails (0: none) */
    int fail_wait_at;       /* 1-based batch whose wait fails (0: none) */
    int submits, waits, in_flight, max_in_flight;
    int batch_of[LB_BACKEND_MAX_DEPTH]; /* 1-based batch in each slot (0: idle) */
} fault_be;

static void *f_alloc(void *ctx, size_t b) {
    fault_be *f = ctx;
    return f->inner.host_alloc(f->inner.ctx, b);
}

static void f_free(void *ctx, void *p) {
    fault_be *f = ctx;
    f->inner.host_free(f->inner.ctx, p);
}

static labse_status f_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu, int n,
                             float *out, labse_error *err) {
    fault_be *f = ctx;
    assert_int_equal(f->batch_of[slot], 0); /* the slot was waited before its reuse */
    f->submits++;
    if (f->submits == f->fail_submit_at)
        return lb_err(err, LABSE_E_CUDA, "injected fault at submit of batch %d", f->submits);
    labse_status st = f->inner.submit(f->inner.ctx, slot, ids, cu, n, out, err);
    if (st != LABSE_OK) return st;
    f->batch_of[slot] = f->submits;
    if (++f->in_flight > f->max_in_flight) f->max_in_flight = f->in_flight;
    return LABSE_OK;
}

static labse_status f_wait(void *ctx, int slot, labse_error *err) {
    fault_be *f = ctx;
    int b = f->batch_of[slot];
    labse_status st = f->inner.wait(f->inner.ctx, slot, err);
    if (b == 0) return st;
    f->batch_of[slot] = 0;
    f->in_flight--;
    f->waits++;
    if (st == LABSE_OK && b == f->fail_wait_at)
        return lb_err(err, LABSE_E_CUDA, "injected fault at wait of batch %d", b);
    return st;
}

static labse_status f_encode(void *ctx, const int32_t *ids, const int32_t *cu, int n, float *out,
                             labse_error *err) {
    fault_be *f = ctx;
    assert_int_equal(f->in_flight, 0);
    return f->inner.encode(f->inner.ctx, ids, cu, n, out, err);
}

static void wrap(labse_session *s, fault_be *f) {
    lb_backend *be = lb_session_backend(s);
    memset(f, 0, sizeof *f);
    f->inner = *be;
    be->ctx = f;
    be->host_alloc = f_alloc;
    be->host_free = f_free;
    be->submit = f_submit;
    be->wait = f_wait;
    be->encode = f_encode;
    be->timing = NULL; /* these take the inner backend's ctx: not wrapped */
    be->mem = NULL;
}

static void unwrap(labse_session *s, fault_be *f) { *lb_session_backend(s) = f->inner; }

/* ---- tests ------------------------------------------------------------------------------- */

static void run_inflight(labse_session *s, const float *ref, int depth, const char *what) {
    fault_be f;
    wrap(s, &f);
    float *a = malloc(g_n * (size_t)g_dim * sizeof *a);
    memset(a, 0xff, g_n * (size_t)g_dim * sizeof *a);
    labse_error e;
    labse_stats st0, st1;
    labse_session_stats(s, &st0);
    assert_int_equal(labse_encode(s, g_texts, NULL, g_n, a, &e), LABSE_OK);
    labse_session_stats(s, &st1);
    unwrap(s, &f);
    printf("  %-8s %zu texts, %d batches, at most %d in flight\n", what, g_n, f.submits,
           f.max_in_flight);
    assert_int_equal(f.max_in_flight, depth);
    assert_int_equal(f.waits, f.submits);
    assert_int_equal(f.in_flight, 0);
    assert_int_equal(st1.texts - st0.texts, g_n);
    assert_int_equal(st1.batches - st0.batches, (uint64_t)f.submits);
    assert_memory_equal(a, ref, g_n * (size_t)g_dim * sizeof *a);
    free(a);
}

static void test_gpu_equals_sequential(void **state) {
    (void)state;
    run_inflight(g_sgpu, g_ref_gpu, lb_session_backend(g_sgpu)->depth, "GPU");
    assert_int_equal(lb_session_backend(g_sgpu)->depth, 2);
}

static void test_cpu_equals_sequential(void **state) {
    (void)state;
    run_inflight(g_scpu, g_ref_cpu, 1, "CPU");
}

static void test_gpu_vs_cpu(void **state) {
    (void)state;
    double worst = 1;
    for (size_t i = 0; i < g_n; i++) {
        const float *a = g_ref_gpu + i * (size_t)g_dim, *b = g_ref_cpu + i * (size_t)g_dim;
        double ab = 0, aa = 0, bb = 0;
        for (int d = 0; d < g_dim; d++) {
            ab += (double)a[d] * b[d];
            aa += (double)a[d] * a[d];
            bb += (double)b[d] * b[d];
        }
        double c = ab / sqrt(aa * bb);
        if (!(c >= COS_MIN)) fail_msg("text %zu: GPU vs CPU cosine %.6f < %.3f", i, c, COS_MIN);
        if (c < worst) worst = c;
    }
    printf("  GPU vs CPU: %zu rows, min cosine %.7f\n", g_n, worst);
}

/* An error in the 2nd batch (at submit, or surfacing at its wait): reported, nothing left in
 * flight, the session usable again with the same bytes. */
static void run_fault(labse_session *s, const float *ref, int at_submit) {
    fault_be f;
    wrap(s, &f);
    if (at_submit) f.fail_submit_at = 2;
    else f.fail_wait_at = 2;
    float *a = malloc(g_n * (size_t)g_dim * sizeof *a);
    labse_error e;
    labse_stats st0, st1;
    labse_session_stats(s, &st0);
    labse_status st = labse_encode(s, g_texts, NULL, g_n, a, &e);
    labse_session_stats(s, &st1);
    printf("  fault at %s of batch 2: status %d, '%s'; %d submitted, %d waited\n",
           at_submit ? "submit" : "wait", (int)st, e.message, f.submits, f.waits);
    assert_int_equal(st, LABSE_E_CUDA);
    assert_non_null(strstr(e.message, "injected fault"));
    assert_string_equal(labse_session_errmsg(s), e.message);
    assert_int_equal(f.in_flight, 0);                   /* nothing left running */
    assert_true(st1.texts - st0.texts < g_n);           /* the call did not count as done */
    /* the same session, the same texts: the reference bytes */
    f.fail_submit_at = f.fail_wait_at = 0;
    assert_int_equal(labse_encode(s, g_texts, NULL, g_n, a, &e), LABSE_OK);
    assert_int_equal(f.in_flight, 0);
    unwrap(s, &f);
    assert_memory_equal(a, ref, g_n * (size_t)g_dim * sizeof *a);
    free(a);
}

static void test_fault_submit_gpu(void **state) { (void)state; run_fault(g_sgpu, g_ref_gpu, 1); }
static void test_fault_wait_gpu(void **state) { (void)state; run_fault(g_sgpu, g_ref_gpu, 0); }
static void test_fault_submit_cpu(void **state) { (void)state; run_fault(g_scpu, g_ref_cpu, 1); }

/* ---- setup ------------------------------------------------------------------------------- */

static int load(labse_device dev, labse_model **m, labse_session **s) {
    labse_options o = labse_default_options();
    o.device = dev;
    o.batch_tokens = BATCH_TOKENS;
    o.window = WINDOW;
    labse_error e;
    if (labse_model_load(g_dir, &o, m, &e) != LABSE_OK) {
        fprintf(stderr, "load (%s): %s\n", dev == LABSE_DEVICE_CUDA ? "cuda" : "cpu", e.message);
        return -1;
    }
    if (labse_session_new(*m, s, &e) != LABSE_OK) {
        fprintf(stderr, "session: %s\n", e.message);
        return -1;
    }
    return 0;
}

/* Both columns of the first `lines` lines of the French bitext, and one empty text. */
static int read_texts(size_t lines) {
    char path[512];
    snprintf(path, sizeof path, "%s/data/bitext/fr.tsv", LABSE_SHARED_DIR);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    g_buf = malloc((size_t)sz + 1);
    size_t got = fread(g_buf, 1, (size_t)sz, f);
    g_buf[got] = 0;
    fclose(f);
    g_texts = calloc(2 * lines + 1, sizeof *g_texts);
    size_t k = 0;
    for (char *line = strtok(g_buf, "\n"); line && k < lines; line = strtok(NULL, "\n"), k++) {
        char *tab = strchr(line, '\t');
        if (tab) *tab = 0;
        g_texts[g_n++] = line;
        if (tab) g_texts[g_n++] = tab + 1;
    }
    g_texts[g_n++] = "";
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_encode_inflight MODEL_DIR [small|full]\n");
        return 2;
    }
    g_dir = argv[1];
    g_full = argc > 2 && strcmp(argv[2], "full") == 0;
    struct stat sb;
    if (stat(g_dir, &sb) != 0) {
        printf("skip: no model at %s\n", g_dir);
        return 77;
    }
    gt_require_device();
    if (read_texts(g_full ? 1000 : 20) != 0) {
        printf("skip: no bitext under %s\n", LABSE_SHARED_DIR);
        return 77;
    }
    if (load(LABSE_DEVICE_CPU, &g_cpu, &g_scpu) || load(LABSE_DEVICE_CUDA, &g_gpu, &g_sgpu))
        return 1;
    g_dim = labse_model_dim(g_gpu);
    g_maxlen = labse_model_max_length(g_gpu);
    g_ref_gpu = malloc(g_n * (size_t)g_dim * sizeof *g_ref_gpu);
    g_ref_cpu = malloc(g_n * (size_t)g_dim * sizeof *g_ref_cpu);
    int wg, bg, wc, bc;
    encode_sequential(g_gpu, g_sgpu, g_texts, g_n, g_ref_gpu, &wg, &bg);
    encode_sequential(g_cpu, g_scpu, g_texts, g_n, g_ref_cpu, &wc, &bc);
    printf("sequential reference: %zu texts, %d windows, %d batches (batch_tokens %d, window %d)\n",
           g_n, wg, bg, BATCH_TOKENS, WINDOW);
    if (bg < 3 || wg < 2 || bc != bg) {
        fprintf(stderr, "the reference made %d batches in %d windows: need >= 3 and >= 2\n", bg, wg);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpu_equals_sequential),
        cmocka_unit_test(test_cpu_equals_sequential),
        cmocka_unit_test(test_gpu_vs_cpu),
        cmocka_unit_test(test_fault_submit_gpu),
        cmocka_unit_test(test_fault_wait_gpu),
        cmocka_unit_test(test_fault_submit_cpu),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    labse_session_free(g_scpu);
    labse_session_free(g_sgpu);
    labse_model_free(g_cpu);
    labse_model_free(g_gpu);
    free(g_ref_gpu);
    free(g_ref_cpu);
    free(g_texts);
    free(g_buf);
    return rc;
}
