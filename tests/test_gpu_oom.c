/* test_gpu_oom.c — the GPU encoder out of device memory (src/gpu/gpu_forward.c, enqueue; the
 * cuBLASLt workspace fallback of src/gpu/gpu_gemm.c): a batch whose buffers do not fit is
 * encoded in pieces, and only one sentence that does not fit alone is an error.
 *
 * Usage: test_gpu_oom MODEL_DIR LABSE_CLI [small|full]
 *   the emulator (label emu, `small`) and a real GPU (label gpu, `full`); exits 77 when there
 *   is no CUDA device or MODEL_DIR is missing.
 *
 * How memory is made short: a "ballast" allocation takes all the device's free memory but a
 * chosen amount (cudaMemGetInfo, then cudaMalloc of the rest: exact on the emulator, within the
 * allocator's granularity on a GPU). On the emulator the device is LABSE_EMU_MEM_BYTES large
 * (set here to 256 MiB unless the environment says otherwise: the ballast is real host memory
 * there). The CLI runs (emulator only) get their limit through LABSE_EMU_MEM_BYTES itself: the
 * model's weights plus a margin.
 *
 * The texts: N sentences of 1..40 words drawn from the model's vocabulary by a seeded
 * generator (no data file: the test never skips for want of one), encoded with labse_encode
 * at a token budget that makes several batches (asserted).
 *
 * Checks and tolerances:
 *   - the reference: the same session API with no ballast (its batches are not split:
 *     gpu_split_batches == 0, full workspace).
 *   - short of memory (free = a quarter of what a session's buffers took, SHORT_DIV):
 *     labse_encode succeeds, gpu_split_batches > 0, gpu_split_min >= 1, the workspace is
 *     reduced (that is far below 32 MiB) and the rows equal the reference's within max
 *     |difference| <= 1e-3 per component: the batch-composition bound of
 *     tests/test_gpu_encoder.c (rows do not see each other; the GEMM algorithm and the
 *     attention kernel may change with a piece's token bucket and longest sentence, within
 *     fp16 rounding: 2^-11 for |x| <= 1). Measured on the emulator for these texts: 0 (the
 *     pieces happen to run the same kernels); rows put in the wrong places differ by 0.43.
 *   - room for 4 MiB and a batch but not 32 MiB: the workspace is 4 MiB
 *     (reduced), no batch is split, rows as above.
 *   - no memory (free 0): labse_encode fails with LABSE_E_CUDA and a message naming one
 *     sentence, its token count and the bytes asked; the same session, memory given back,
 *     then encodes the reference rows again (the failure left nothing broken).
 *   - the CLI (emulator only): a limit of the weights plus a small margin → exit code 1, the
 *     message, and no output file nor temporary left in the output folder; a limit that holds
 *     pieces but not whole batches → exit 0, the summary says batches were encoded in pieces,
 *     and the .npy rows equal the reference (within the same bound).
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu_test_util.h"
#include "labse.h"
#include "test_files.h"

/* the batch-composition bound of test_gpu_encoder.c (see the file's comment) */
#define BATCH_ABS_MAX 1e-3
#define EMU_DEVICE_BYTES "268435456" /* 256 MiB: the weights, a session and the ballast */
#define WORDS_MAX 40
/* "Short of memory": free = a session's buffers (the budget's activations, both slots) / 4.
 * One full batch needs about 60% of those on the emulator (they are sized for budget-many
 * sequences too; estimated from grow_acts' sizes), so a quarter holds pieces, not whole
 * batches (asserted: batches are split). */
#define SHORT_DIV 4

static const char *g_dir, *g_cli;
static int g_full;
static labse_model *g_gpu;
static int g_dim;
static size_t g_n;
static char **g_texts;
static float *g_ref;
static size_t g_batch_bytes; /* device bytes a session held after encoding (workspace excluded) */
static size_t g_weights;     /* device bytes in use with only the model loaded */
static int g_batch_tokens;

/* ---- device memory ---------------------------------------------------------------------- */

static size_t dev_used(void) {
    size_t f = 0, t = 0;
    GT_CUDA(cudaMemGetInfo(&f, &t));
    return t - f;
}

/* Take all free device memory but `keep` bytes (down to the allocator's granularity on a GPU:
 * the ballast shrinks by 1 MiB until it fits). NULL when less than keep is free. */
static void *ballast(size_t keep) {
    size_t f = 0, t = 0;
    GT_CUDA(cudaMemGetInfo(&f, &t));
    if (f <= keep) return NULL;
    size_t b = f - keep;
    void *p = NULL;
    while (cudaMalloc(&p, b) != cudaSuccess) {
        cudaGetLastError();
        if (b <= ((size_t)1 << 20)) return NULL;
        b -= (size_t)1 << 20;
    }
    return p;
}

static void unballast(void *p) {
    if (p) GT_CUDA(cudaFree(p));
}

/* ---- texts --------------------------------------------------------------------------------- */

/* N sentences of 1..WORDS_MAX whole words of the model's vocab.txt (no "##" pieces, no
 * [special] tokens), seeded: the same texts every run. */
static void make_texts(size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.txt", g_dir);
    size_t len;
    char *voc = tf_read_all(path, &len);
    assert_non_null(voc);
    char **words = malloc(sizeof *words * (len + 1));
    size_t nw = 0;
    for (char *line = strtok(voc, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '[' && strncmp(line, "##", 2) != 0 && strlen(line) > 1) words[nw++] = line;
    assert_true(nw > 100);
    gt_rng r = {12345};
    g_texts = malloc(n * sizeof *g_texts);
    for (size_t i = 0; i < n; i++) {
        const int k = 1 + (int)(gt_next(&r) % WORDS_MAX);
        char buf[4096] = "";
        size_t at = 0;
        for (int j = 0; j < k; j++)
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", j ? " " : "",
                                   words[gt_next(&r) % nw]);
        g_texts[i] = strdup(buf);
    }
    g_n = n;
    free(words);
    free(voc);
}

/* ---- encoding ------------------------------------------------------------------------------ */

/* Encode the texts on a new session of g_gpu: returns labse_encode's status, rows in out,
 * counters in *st, the message in err. */
static labse_status encode_all(float *out, labse_stats *st, labse_error *err) {
    labse_session *s = NULL;
    labse_status rc = labse_session_new(g_gpu, &s, err);
    if (rc != LABSE_OK) return rc;
    rc = labse_encode(s, (const char *const *)g_texts, NULL, g_n, out, err);
    labse_session_stats(s, st);
    labse_session_free(s);
    return rc;
}

static void compare_rows(const float *a, const float *b, const char *what) {
    double worst = 0;
    for (size_t i = 0; i < g_n * (size_t)g_dim; i++) {
        assert_true(isfinite(a[i]));
        const double d = fabs((double)a[i] - b[i]);
        if (d > worst) worst = d;
    }
    printf("  %s: max |difference| to the reference %.3g\n", what, worst);
    assert_true(worst <= BATCH_ABS_MAX);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_split_when_short(void **state) {
    (void)state;
    const size_t keep = g_batch_bytes / SHORT_DIV;
    void *b = ballast(keep);
    assert_non_null(b);
    float *rows = malloc(g_n * (size_t)g_dim * sizeof *rows);
    labse_stats st;
    labse_error e;
    const labse_status rc = encode_all(rows, &st, &e);
    unballast(b);
    if (rc != LABSE_OK) fail_msg("labse_encode: %s", e.message);
    printf("  %zu bytes free: %" PRIu64 " batches of %" PRIu64 " split, smallest piece %" PRIu64
           " texts, workspace %" PRIu64 " bytes\n",
           keep, st.gpu_split_batches, st.batches, st.gpu_split_min, st.gpu_workspace_bytes);
    assert_true(st.gpu_split_batches > 0);
    assert_true(st.gpu_split_min >= 1);
    assert_int_equal(st.gpu_workspace_reduced, 1);
    assert_true(st.gpu_workspace_bytes < ((size_t)32 << 20));
    compare_rows(rows, g_ref, "split");
    free(rows);
}

/* Room for 4 MiB and a batch, not for 32 MiB: the middle workspace, no split. room: twice a
 * session's buffers (at most 24 MiB, which holds one batch of either mode). */
static void test_workspace_fallback(void **state) {
    (void)state;
    const size_t room = 2 * g_batch_bytes < ((size_t)24 << 20) ? 2 * g_batch_bytes
                                                               : ((size_t)24 << 20);
    void *b = ballast(((size_t)4 << 20) + room);
    assert_non_null(b);
    labse_session *s = NULL;
    labse_error e;
    float *rows = malloc(g_n * (size_t)g_dim * sizeof *rows);
    labse_stats st;
    assert_int_equal(labse_session_new(g_gpu, &s, &e), LABSE_OK);
    const size_t n = 8; /* a few texts are enough: the workspace is chosen at session_new */
    if (labse_encode(s, (const char *const *)g_texts, NULL, n, rows, &e) != LABSE_OK)
        fail_msg("labse_encode: %s", e.message);
    labse_session_stats(s, &st);
    labse_session_free(s);
    unballast(b);
    printf("  workspace %" PRIu64 " bytes, %" PRIu64 " batches split\n", st.gpu_workspace_bytes,
           st.gpu_split_batches);
    assert_int_equal(st.gpu_workspace_bytes, (uint64_t)4 << 20);
    assert_int_equal(st.gpu_workspace_reduced, 1);
    assert_int_equal(st.gpu_split_batches, 0);
    for (size_t i = 0; i < n * (size_t)g_dim; i++)
        assert_true(fabs((double)rows[i] - g_ref[i]) <= BATCH_ABS_MAX);
    free(rows);
}

static void test_one_sentence_does_not_fit(void **state) {
    (void)state;
    labse_session *s = NULL;
    labse_error e;
    float *rows = malloc(g_n * (size_t)g_dim * sizeof *rows);
    void *b = ballast(0);
    assert_non_null(b);
    assert_int_equal(labse_session_new(g_gpu, &s, &e), LABSE_OK); /* nothing allocated yet */
    const labse_status rc = labse_encode(s, (const char *const *)g_texts, NULL, g_n, rows, &e);
    unballast(b);
    printf("  no memory: %s\n", e.message);
    assert_int_equal(rc, LABSE_E_CUDA);
    assert_non_null(strstr(e.message, "one sentence of "));
    assert_non_null(strstr(e.message, " tokens does not fit"));
    assert_non_null(strstr(e.message, "bytes of device memory"));
    /* the same session, memory back: the reference rows */
    memset(rows, 0, g_n * (size_t)g_dim * sizeof *rows);
    if (labse_encode(s, (const char *const *)g_texts, NULL, g_n, rows, &e) != LABSE_OK)
        fail_msg("labse_encode after the failure: %s", e.message);
    compare_rows(rows, g_ref, "after the failure");
    labse_session_free(s);
    free(rows);
}

/* Run the CLI with LABSE_EMU_MEM_BYTES=limit (0: unset), stderr into errpath; its exit code
 * (or -1 when it did not exit). */
static int run_cli(size_t limit, const char *in, const char *out, const char *errpath) {
    char bt[32];
    snprintf(bt, sizeof bt, "%d", g_batch_tokens);
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", limit);
        if (limit) setenv("LABSE_EMU_MEM_BYTES", lim, 1);
        else unsetenv("LABSE_EMU_MEM_BYTES");
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) _exit(126);
        dup2(fd, 2);
        close(fd);
        execl(g_cli, g_cli, "encode", "--model", g_dir, "--device", "cuda", "--batch-tokens",
              bt, "--input", in, "--output", out, (char *)NULL);
        _exit(127);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

/* The float32 rows of a .npy written by the CLI (header skipped). */
static float *read_npy_rows(const char *path, size_t *count) {
    size_t len;
    char *b = tf_read_all(path, &len);
    assert_non_null(b);
    assert_true(len >= 10 && memcmp(b, "\x93NUMPY", 6) == 0);
    size_t hl = (unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8, off = 10 + hl;
    assert_true(b[6] == 1 && off <= len && strstr(b + 10, "'<f4'"));
    *count = (len - off) / sizeof(float);
    float *r = malloc(len - off + 1);
    memcpy(r, b + off, len - off);
    free(b);
    return r;
}

/* The names in dir (but . and ..), joined by spaces, into buf. */
static void list_dir(const char *dir, char *buf, size_t cap) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    buf[0] = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s ", de->d_name);
    closedir(d);
}

static void test_cli(void **state) {
    (void)state;
    if (!gt_is_emu()) {
        printf("  the CLI's limit is the emulator's (LABSE_EMU_MEM_BYTES): skipped on a GPU\n");
        return;
    }
    char tmp[] = "/tmp/labse_oom_XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char in[256], outdir[256], out[300], errp[256], names[1024];
    snprintf(in, sizeof in, "%s/in.txt", tmp);
    snprintf(outdir, sizeof outdir, "%s/out", tmp);
    snprintf(out, sizeof out, "%s/rows.npy", outdir);
    snprintf(errp, sizeof errp, "%s/stderr.txt", tmp);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (size_t i = 0; i < g_n; i++) fprintf(f, "%s\n", g_texts[i]);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(mkdir(outdir, 0755), 0);
    size_t len;

    /* the weights and a few KiB: not even one sentence */
    int rc = run_cli(g_weights + 4096, in, out, errp);
    char *msg = tf_read_all(errp, &len);
    assert_non_null(msg);
    printf("  CLI, weights + 4 KiB: exit %d: %s", rc, msg ? msg : "");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "one sentence of "));
    list_dir(outdir, names, sizeof names);
    if (names[0]) fail_msg("left in the output folder: %s", names);
    free(msg);

    /* pieces fit, whole batches do not */
    rc = run_cli(g_weights + g_batch_bytes / SHORT_DIV, in, out, errp);
    msg = tf_read_all(errp, &len);
    assert_non_null(msg);
    printf("  CLI, weights + a quarter of a session's buffers: exit %d: %s", rc, msg ? msg : "");
    assert_int_equal(rc, 0);
    assert_non_null(strstr(msg, "encoded in pieces"));
    size_t count;
    float *rows = read_npy_rows(out, &count);
    assert_int_equal(count, g_n * (size_t)g_dim);
    compare_rows(rows, g_ref, "CLI split");
    free(rows);
    free(msg);
    unlink(out);
    unlink(in);
    unlink(errp);
    rmdir(outdir);
    rmdir(tmp);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_gpu_oom MODEL_DIR LABSE_CLI [small|full]\n");
        return 2;
    }
    g_dir = argv[1];
    g_cli = argv[2];
    g_full = argc > 3 && strcmp(argv[3], "full") == 0;
    if (gt_is_emu()) setenv("LABSE_EMU_MEM_BYTES", EMU_DEVICE_BYTES, 0); /* before any CUDA call */
    struct stat sb;
    if (stat(g_dir, &sb) != 0) {
        printf("skip: no model at %s\n", g_dir);
        return 77;
    }
    gt_require_device();
    /* small: ~200 texts at a 1024-token budget (a few batches, seconds on the emulator);
     * full: more at the default budget, so a batch's buffers dwarf a GPU's page size */
    g_batch_tokens = g_full ? 16384 : 512;
    make_texts(g_full ? 4000 : 100);
    labse_options o = labse_default_options();
    o.device = LABSE_DEVICE_CUDA;
    o.batch_tokens = g_batch_tokens;
    labse_error e;
    const size_t used0 = dev_used();
    if (labse_model_load(g_dir, &o, &g_gpu, &e) != LABSE_OK) {
        fprintf(stderr, "load: %s\n", e.message);
        return 1;
    }
    g_weights = dev_used() - used0;
    g_dim = labse_model_dim(g_gpu);
    g_ref = malloc(g_n * (size_t)g_dim * sizeof *g_ref);
    {
        /* the reference, and what one session's batches take on the device */
        labse_session *s = NULL;
        labse_stats st;
        if (labse_session_new(g_gpu, &s, &e) != LABSE_OK ||
            labse_encode(s, (const char *const *)g_texts, NULL, g_n, g_ref, &e) != LABSE_OK) {
            fprintf(stderr, "reference: %s\n", e.message);
            return 1;
        }
        labse_session_stats(s, &st);
        g_batch_bytes = dev_used() - used0 - g_weights - st.gpu_workspace_bytes;
        labse_session_free(s);
        printf("reference: %zu texts, %" PRIu64 " batches (batch_tokens %d), weights %zu bytes, "
               "a session's buffers %zu bytes, workspace %" PRIu64 "\n",
               g_n, st.batches, g_batch_tokens, g_weights, g_batch_bytes, st.gpu_workspace_bytes);
        if (st.batches < 3 || st.gpu_split_batches || st.gpu_workspace_reduced) {
            fprintf(stderr, "the reference must be >= 3 unsplit batches with the full workspace\n");
            return 1;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_when_short),
        cmocka_unit_test(test_workspace_fallback),
        cmocka_unit_test(test_one_sentence_does_not_fit),
        cmocka_unit_test(test_cli),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    labse_model_free(g_gpu);
    for (size_t i = 0; i < g_n; i++) free(g_texts[i]);
    free(g_texts);
    free(g_ref);
    return rc;
}
