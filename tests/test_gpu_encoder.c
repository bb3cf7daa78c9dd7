/* test_gpu_encoder.c — the fp16 GPU encoder (src/gpu/ over kernels/) against the fp32 CPU
 * encoder, through the public API, on one model folder.
 *
 * Usage: test_gpu_encoder MODEL_DIR [small|full]
 *   runs on the emulator (label emu, `small`) and on a real GPU (label gpu, `full`); exits 77
 *   when there is no CUDA device or MODEL_DIR is missing.
 *
 * Tolerances:
 *   - GPU fp16 vs CPU fp32: cosine >= 0.999 per sentence (the design target, ARCHITECTURE.md). fp16 storage
 *     rounds every activation to 11 significant bits (relative 2^-11 ≈ 4.9e-4); over 6-12
 *     layers the errors stay of that order relative to the hidden states, i.e. a cosine
 *     deficit of ~1e-6..1e-5 — 0.999 leaves two orders of magnitude, yet a wrong head, bias,
 *     position or pooling drops the cosine far below it.
 *   - batch composition (GPU vs GPU): a sentence alone vs packed with others: max abs <= 1e-3
 *     per component (issue 6). Rows do not see each other; only GEMM algorithms and tiling may
 *     change with the batch, each within fp16 rounding of the result (|x| <= 1 → 2^-11).
 *   - every language (one line, both columns, of every file of the shared bitext): the default
 *     GPU path (LABSE_GPU_PATH / LABSE_GPU_GELU as set, default fused with cuBLASLt's tanh GELU)
 *     vs the CPU's exact erf GELU in fp32: cosine >= 0.9999 per sentence. The budget: fp16
 *     storage costs ~1e-6..1e-5 (above); the tanh form of GELU alone costs at most 1.2e-5
 *     (MiniLM, 24,335 bitext sentences; README "GPU paths", tools/gelu_forms.sh). 0.9999 is
 *     the bar the tanh default was chosen by (minimum cosine to the erf embeddings); ReLU in
 *     place of GELU falls below it on the tiny model (checked by hand: 0.99979).
 *   - every output finite.
 */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "gpu_test_util.h"
#include "labse.h"

#define COS_MIN 0.999
#define COS_DEFAULT_MIN 0.9999
#define BATCH_ABS_MAX 1e-3

static const char *g_dir;
static int g_full;
static labse_model *g_cpu, *g_gpu;
static labse_session *g_scpu, *g_sgpu;
static int g_dim, g_vocab, g_maxpos;

static double cosine(const float *a, const float *b, int n) {
    double ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 || bb == 0) return aa == bb ? 1.0 : 0.0;
    return ab / sqrt(aa * bb);
}

static void check_finite(const float *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) fail_msg("non-finite output at %zu: %g", i, v[i]);
}

/* Compare n rows: cosine per row >= COS_MIN. Returns the worst cosine. */
static double compare_rows(const float *gpu, const float *cpu, int n, const char *what) {
    double worst = 1, maxd = 0;
    check_finite(gpu, (size_t)n * g_dim);
    for (int i = 0; i < n; i++) {
        double c = cosine(gpu + (size_t)i * g_dim, cpu + (size_t)i * g_dim, g_dim);
        if (c < worst) worst = c;
        for (int d = 0; d < g_dim; d++) {
            double e = fabs((double)gpu[(size_t)i * g_dim + d] - cpu[(size_t)i * g_dim + d]);
            if (e > maxd) maxd = e;
        }
        if (!(c >= COS_MIN)) fail_msg("%s: row %d cosine %.6f < %.3f", what, i, c, COS_MIN);
    }
    printf("  %-34s rows %4d  min cosine %.7f  max abs %.2e\n", what, n, worst, maxd);
    return worst;
}

/* A ragged batch of random ids with the given lengths: [CLS]-like first id, random body. */
static void make_batch(gt_rng *r, const int *lens, int n, int32_t **ids, int32_t **cu) {
    *cu = malloc(sizeof(int32_t) * (size_t)(n + 1));
    (*cu)[0] = 0;
    for (int i = 0; i < n; i++) (*cu)[i + 1] = (*cu)[i] + lens[i];
    *ids = malloc(sizeof(int32_t) * (size_t)(*cu)[n]);
    for (int t = 0; t < (*cu)[n]; t++) (*ids)[t] = (int32_t)(gt_next(r) % (uint64_t)g_vocab);
}

static void run_ids(const int *lens, int n, const char *what, uint64_t seed) {
    gt_rng r = {seed};
    int32_t *ids, *cu;
    make_batch(&r, lens, n, &ids, &cu);
    float *a = malloc(sizeof(float) * (size_t)n * g_dim), *b = malloc(sizeof(float) * (size_t)n * g_dim);
    memset(a, 0xff, sizeof(float) * (size_t)n * g_dim);
    labse_error e;
    assert_int_equal(labse_encode_ids(g_sgpu, ids, cu, (size_t)n, a, &e), LABSE_OK);
    assert_int_equal(labse_encode_ids(g_scpu, ids, cu, (size_t)n, b, &e), LABSE_OK);
    compare_rows(a, b, n, what);
    free(a); free(b); free(ids); free(cu);
}

static const int LENS_FULL[] = {1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 511, 512};
static const int LENS_SMALL[] = {1, 2, 31, 33, 64, 65, 129};

static void test_ragged_lengths(void **state) {
    (void)state;
    const int *L = g_full ? LENS_FULL : LENS_SMALL;
    int nl = g_full ? (int)(sizeof LENS_FULL / sizeof *LENS_FULL) : (int)(sizeof LENS_SMALL / sizeof *LENS_SMALL);
    int mix[64], nm = 0;
    for (int i = 0; i < nl; i++) {
        if (L[i] > g_maxpos) continue;
        char what[64];
        snprintf(what, sizeof what, "length %d alone", L[i]);
        run_ids(&L[i], 1, what, 100 + (uint64_t)i);
        mix[nm++] = L[i];
    }
    /* every length in one batch, twice, interleaved with short ones */
    int big[128], nb = 0;
    for (int rep = 0; rep < 2; rep++)
        for (int i = 0; i < nm; i++) {
            big[nb++] = mix[(i * 7 + rep) % nm];
            big[nb++] = 1 + (i % 5);
        }
    run_ids(big, nb, "mixed ragged batch", 7);
}

/* Real text through labse_encode (tokenizer, windows, batches) on both devices. */
static void test_texts(void **state) {
    (void)state;
    static const char *langs[] = {"de", "zh_CN", "ja", "ar", "hi", "ru", "th", "ko", "he", "fr",
                                  "es", "el", "ka", "my", "vi"};
    const int per = g_full ? 200 : 3;
    const char **texts = calloc(4096, sizeof *texts);
    char *bufs[sizeof langs / sizeof *langs] = {0};
    int n = 0;
    for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) {
        char path[512];
        snprintf(path, sizeof path, "%s/data/bitext/%s.tsv", LABSE_SHARED_DIR, langs[l]);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        bufs[l] = malloc((size_t)sz + 1);
        size_t got = fread(bufs[l], 1, (size_t)sz, f);
        bufs[l][got] = 0;
        fclose(f);
        int k = 0;
        for (char *line = strtok(bufs[l], "\n"); line && k < per; line = strtok(NULL, "\n"), k++) {
            char *tab = strchr(line, '\t');
            if (tab) *tab = 0;
            texts[n++] = line;                 /* English */
            if (tab) texts[n++] = tab + 1;     /* translation */
        }
    }
    /* edge cases: empty, one long line that truncates */
    static char longline[20000];
    for (size_t i = 0; i + 1 < sizeof longline; i++) longline[i] = "abc def, ghi! "[i % 14];
    texts[n++] = "";
    texts[n++] = longline;
    if (n < 4) skip();
    float *a = malloc(sizeof(float) * (size_t)n * g_dim), *b = malloc(sizeof(float) * (size_t)n * g_dim);
    labse_error e;
    assert_int_equal(labse_encode(g_sgpu, texts, NULL, (size_t)n, a, &e), LABSE_OK);
    assert_int_equal(labse_encode(g_scpu, texts, NULL, (size_t)n, b, &e), LABSE_OK);
    compare_rows(a, b, n, "bitext lines (labse_encode)");
    free(a); free(b);
    for (size_t l = 0; l < sizeof langs / sizeof *langs; l++) free(bufs[l]);
    free(texts);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One line (both columns) of every language file of the bitext: the default GPU path against
 * the CPU (erf GELU, fp32), cosine >= COS_DEFAULT_MIN per sentence. */
static void test_every_language(void **state) {
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/data/bitext", LABSE_SHARED_DIR);
    DIR *d = opendir(dir);
    if (!d) skip();
    char *names[512];
    int nf = 0;
    for (struct dirent *de; (de = readdir(d)) && nf < 512;) {
        const size_t len = strlen(de->d_name);
        if (len > 4 && !strcmp(de->d_name + len - 4, ".tsv")) names[nf++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nf, sizeof *names, cmp_str);
    const char **texts = calloc((size_t)nf * 2 + 1, sizeof *texts);
    char **lines = calloc((size_t)nf + 1, sizeof *lines);
    int n = 0;
    for (int i = 0; i < nf; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        lines[i] = calloc(1, 65536);
        if (fgets(lines[i], 65536, f)) {
            lines[i][strcspn(lines[i], "\r\n")] = 0;
            char *tab = strchr(lines[i], '\t');
            if (tab) *tab = 0;
            texts[n++] = lines[i];
            if (tab) texts[n++] = tab + 1;
        }
        fclose(f);
    }
    float *a = malloc(sizeof(float) * (size_t)n * g_dim), *b = malloc(sizeof(float) * (size_t)n * g_dim);
    labse_error e;
    assert_int_equal(labse_encode(g_sgpu, texts, NULL, (size_t)n, a, &e), LABSE_OK);
    assert_int_equal(labse_encode(g_scpu, texts, NULL, (size_t)n, b, &e), LABSE_OK);
    double worst = compare_rows(a, b, n, "every language (default path)");
    if (!(worst >= COS_DEFAULT_MIN))
        fail_msg("every language: min cosine %.7f < %.4f", worst, COS_DEFAULT_MIN);
    printf("  (%d files)\n", nf);
    free(a), free(b);
    for (int i = 0; i < nf; i++) free(names[i]), free(lines[i]);
    free(lines), free(texts);
}

/* A sentence's row does not depend on its batch. */
static void test_batch_independence(void **state) {
    (void)state;
    const int n = g_full ? 64 : 12;
    int lens[64];
    gt_rng r = {99};
    for (int i = 0; i < n; i++) {
        lens[i] = 2 + (int)(gt_next(&r) % (uint64_t)(g_maxpos < 80 ? g_maxpos - 1 : 80));
    }
    int32_t *ids, *cu;
    make_batch(&r, lens, n, &ids, &cu);
    float *packed = malloc(sizeof(float) * (size_t)n * g_dim), *alone = malloc(sizeof(float) * g_dim);
    labse_error e;
    assert_int_equal(labse_encode_ids(g_sgpu, ids, cu, (size_t)n, packed, &e), LABSE_OK);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        int32_t c1[2] = {0, lens[i]};
        assert_int_equal(labse_encode_ids(g_sgpu, ids + cu[i], c1, 1, alone, &e), LABSE_OK);
        for (int d = 0; d < g_dim; d++) {
            double x = fabs((double)alone[d] - packed[(size_t)i * g_dim + d]);
            if (x > worst) worst = x;
        }
    }
    printf("  %-34s rows %4d  max abs %.2e\n", "alone vs packed (GPU)", n, worst);
    assert_true(worst <= BATCH_ABS_MAX);
    free(packed); free(alone); free(ids); free(cu);
}

/* Bad input is refused before anything runs; an impossible budget still encodes. */
static void test_errors(void **state) {
    (void)state;
    labse_error e;
    float row[4096];
    int32_t ids[3] = {1, g_vocab, 2}, cu[2] = {0, 3};
    assert_int_equal(labse_encode_ids(g_sgpu, ids, cu, 1, row, &e), LABSE_E_INVALID);
    assert_non_null(strstr(e.message, "id"));
    /* the session still works afterwards */
    ids[1] = 3;
    assert_int_equal(labse_encode_ids(g_sgpu, ids, cu, 1, row, &e), LABSE_OK);
    /* activations for a billion tokens fit no GPU: the session is made all the same (its
     * buffers grow with the first batches, split when they do not fit: tests/test_gpu_oom.c)
     * and encodes */
    labse_options o = labse_default_options();
    o.device = LABSE_DEVICE_CUDA;
    o.batch_tokens = 1000000000;
    labse_model *m = NULL;
    labse_status st = labse_model_load(g_dir, &o, &m, &e);
    assert_int_equal(st, LABSE_OK);
    labse_session *s = NULL;
    assert_int_equal(labse_session_new(m, &s, &e), LABSE_OK);
    float row2[4096];
    assert_int_equal(labse_encode_ids(s, ids, cu, 1, row2, &e), LABSE_OK);
    assert_memory_equal(row, row2, (size_t)g_dim * sizeof *row);
    labse_session_free(s);
    labse_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [small|full]\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    g_full = argc > 2 && strcmp(argv[2], "full") == 0;
    struct stat sb;
    if (stat(g_dir, &sb) != 0) {
        printf("%s missing (tools/setup.sh makes it): skipped\n", g_dir);
        return 77;
    }
    gt_require_device();
    labse_options o = labse_default_options();
    labse_error e;
    o.device = LABSE_DEVICE_CPU;
    if (labse_model_load(g_dir, &o, &g_cpu, &e) != LABSE_OK) {
        fprintf(stderr, "load (cpu): %s\n", e.message);
        return 1;
    }
    o.device = LABSE_DEVICE_CUDA;
    if (labse_model_load(g_dir, &o, &g_gpu, &e) != LABSE_OK) {
        fprintf(stderr, "load (cuda): %s\n", e.message);
        return 1;
    }
    if (labse_session_new(g_cpu, &g_scpu, &e) != LABSE_OK || labse_session_new(g_gpu, &g_sgpu, &e) != LABSE_OK) {
        fprintf(stderr, "session: %s\n", e.message);
        return 1;
    }
    labse_model_info mi;
    labse_model_get_info(g_gpu, &mi);
    g_dim = mi.dim;
    g_vocab = mi.vocab_size;
    g_maxpos = mi.max_position;
    printf("model %s: hidden %d, heads %d, layers %d, device %s, mode %s\n", g_dir, mi.hidden,
           mi.heads, mi.layers, mi.device_name, g_full ? "full" : "small");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ragged_lengths),
        cmocka_unit_test(test_texts),
        cmocka_unit_test(test_every_language),
        cmocka_unit_test(test_batch_independence),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    labse_session_free(g_scpu);
    labse_session_free(g_sgpu);
    labse_model_free(g_cpu);
    labse_model_free(g_gpu);
    return rc;
}
