/* test_api_file_mine.c — the public labse_encode_file and labse_mine (include/labse.h).
 *
 * Usage: test_api_file_mine MODEL_DIR LABSE_CLI   (missing model folder → exit 77, skip)
 *
 *   - labse_encode_file's .npy (f32) equals labse_encode's rows bitwise for the same options
 *     and thread count (both cut the same windows and batches); its f16 output equals
 *     lb_f32_to_f16 of those rows; its counters match; bad arguments are refused.
 *   - labse_encode_file's quantised formats (issue 12 §5) against references written here
 *     from the float32 rows: bf16, ubinary, binary bit for bit; int8 with the ranges of a
 *     calibration file and of the first window; calibration refused without int8, int8
 *     shards refused without it, a calibration of another dim refused.
 *   - labse_encode_file's callbacks: progress is called (its last report covers every line,
 *     .output names what was written); should_stop stops a .npy run without leaving the
 *     file, and a folder run with only complete parts, which the next call resumes to the
 *     bytes of an uninterrupted run; labse_output_is_folder.
 *   - labse_mine equals `labse mine --src-emb --tgt-emb` (the CLI, same engine) pair for pair
 *     and score for score (as the CLI prints them, %.8f) for every margin x retrieval on a
 *     small random case with near-duplicates, and with a threshold; errors are reported.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_files.h"

#include "labse.h"
#include "pipeline/pipeline.h"

static const char *g_model_dir, *g_cli;
static char g_tmp[256];

static void write_npy_f32(const char *path, const float *x, size_t rows, size_t dim) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
                     rows, dim);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned short hl = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof(float), rows * dim, f);
    fclose(f);
}

/* ---- labse_encode_file ------------------------------------------------------------------ */

static void test_encode_file_equals_encode(void **state) {
    (void)state;
    char gold[1024];
    snprintf(gold, sizeof gold, "%s/tests/golden/sentences.txt", LABSE_SRC_DIR);
    size_t len;
    char *text = tf_read_all(gold, &len);
    assert_non_null(text);
    /* lines as the pipeline splits them (the file ends in '\n') */
    const char *ptrs[4096];
    size_t lens[4096], n = 0;
    for (char *p = text; p < text + len && n < 4096;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        if (!e) e = text + len;
        ptrs[n] = p;
        lens[n] = (size_t)(e - p);
        if (lens[n] && p[lens[n] - 1] == '\r') lens[n]--;
        n++;
        p = e + 1;
    }
    labse_options mo = labse_default_options();
    mo.device = LABSE_DEVICE_CPU;
    mo.threads = 1;
    mo.window = 16;  /* several windows */
    labse_model *m = NULL;
    labse_error err;
    assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);
    int dim = labse_model_dim(m);
    labse_session *s = NULL;
    assert_int_equal(labse_session_new(m, &s, &err), LABSE_OK);
    float *ref = malloc(n * (size_t)dim * sizeof(float));
    assert_int_equal(labse_encode(s, ptrs, lens, n, ref, &err), LABSE_OK);

    char out[512];
    snprintf(out, sizeof out, "%s/a.npy", g_tmp);
    labse_file_options fo = labse_default_file_options();
    fo.tok_threads = 2;
    labse_file_stats st;
    assert_int_equal(labse_encode_file(m, gold, out, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.lines, n);
    labse_stats ss;
    labse_session_stats(s, &ss);
    assert_int_equal(st.tokens, ss.tokens);
    assert_int_equal(st.truncated, ss.truncated);
    size_t flen, dlen;
    char *file = tf_read_all(out, &flen);
    assert_non_null(file);
    const char *data = tf_npy_data(file, flen, &dlen);
    assert_int_equal(dlen, n * (size_t)dim * sizeof(float));
    assert_memory_equal(data, ref, dlen);
    free(file);

    fo.dtype = LABSE_DTYPE_F16;
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_OK);
    file = tf_read_all(out, &flen);
    data = tf_npy_data(file, flen, &dlen);
    assert_int_equal(dlen, n * (size_t)dim * 2);
    for (size_t i = 0; i < n * (size_t)dim; i++) {
        uint16_t h;
        memcpy(&h, data + 2 * i, 2);
        assert_int_equal(h, lb_f32_to_f16(ref[i]));
    }
    free(file);

    /* errors */
    assert_int_equal(labse_encode_file(m, "/nonexistent/x.txt", out, NULL, NULL, &err), LABSE_E_IO);
    assert_true(strstr(err.message, "/nonexistent/x.txt") != NULL);
    assert_int_equal(labse_encode_file(m, gold, NULL, NULL, NULL, &err), LABSE_E_INVALID);
    fo = labse_default_file_options();
    fo.dtype = (labse_dtype)7;
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_E_INVALID);
    fo = labse_default_file_options();
    fo.shard_count = 2;  /* a shard needs a folder */
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_E_INVALID);
    unlink(out);
    free(ref);
    free(text);
    labse_session_free(s);
    labse_model_free(m);
}

/* ---- labse_encode_file's quantised formats ----------------------------------------------- */

/* The data of out.npy after encoding gold to it in format dt (cal: int8 calibration or NULL);
 * *dlen its bytes. Caller frees *file. */
static const char *encode_as(labse_model *m, const char *gold, const char *out, labse_dtype dt,
                             const char *cal, char **file, size_t *dlen) {
    labse_file_options fo = labse_default_file_options();
    fo.dtype = dt;
    fo.calibration = cal;
    labse_error err;
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_OK);
    size_t flen;
    *file = tf_read_all(out, &flen);
    assert_non_null(*file);
    return tf_npy_data(*file, flen, dlen);
}

/* sentence-transformers' int8 of x with the ranges lo/hi (float32), saturated. */
static int8_t ref_int8(float x, float lo, float hi) {
    float step = (hi - lo) / 255.0f;
    float t = (x - lo) / step - 128.0f;
    return !(t > -128.0f) ? -128 : t >= 127.0f ? 127 : (int8_t)t;
}

static void test_encode_file_formats(void **state) {
    (void)state;
    char gold[1024], out[512], cal[512];
    snprintf(gold, sizeof gold, "%s/tests/golden/sentences.txt", LABSE_SRC_DIR);
    snprintf(out, sizeof out, "%s/q.npy", g_tmp);
    snprintf(cal, sizeof cal, "%s/cal.npy", g_tmp);
    labse_options mo = labse_default_options();
    mo.device = LABSE_DEVICE_CPU;
    mo.threads = 1;
    mo.window = 16; /* the first window: 16 rows */
    labse_model *m = NULL;
    labse_error err;
    assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);
    const size_t d = (size_t)labse_model_dim(m);
    char *f32file, *file;
    size_t dlen, qlen;
    const float *x = (const float *)encode_as(m, gold, out, LABSE_DTYPE_F32, NULL, &f32file, &dlen);
    const size_t n = dlen / (d * sizeof(float));
    assert_true(n > 16 && d % 8 == 0);

    const unsigned char *q = (const unsigned char *)encode_as(m, gold, out, LABSE_DTYPE_BF16, NULL, &file, &qlen);
    assert_int_equal(qlen, n * d * 2);
    for (size_t i = 0; i < n * d; i++) { /* bf16 = the float's top half, rounded to even */
        uint32_t u;
        memcpy(&u, &x[i], 4);
        uint32_t want = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        assert_int_equal(q[2 * i] | q[2 * i + 1] << 8, want);
    }
    free(file);
    for (int bin = 0; bin < 2; bin++) {
        q = (const unsigned char *)encode_as(m, gold, out, bin ? LABSE_DTYPE_BINARY : LABSE_DTYPE_UBINARY,
                                             NULL, &file, &qlen);
        assert_int_equal(qlen, n * d / 8);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < d; j++) { /* bit 7 - j % 8 of byte j / 8: x > 0 */
                unsigned byte = q[i * (d / 8) + j / 8] ^ (bin ? 0x80u : 0u);
                assert_int_equal((byte >> (7 - j % 8)) & 1u, x[i * d + j] > 0.0f);
            }
        free(file);
    }
    /* int8: the calibration file (rows 16..31), then the first window (rows 0..15) */
    write_npy_f32(cal, x + 16 * d, 16, d);
    for (int first = 0; first < 2; first++) {
        q = (const unsigned char *)encode_as(m, gold, out, LABSE_DTYPE_INT8, first ? NULL : cal, &file, &qlen);
        assert_int_equal(qlen, n * d);
        const float *c = x + (first ? 0 : 16) * d;
        for (size_t j = 0; j < d; j++) {
            float lo = c[j], hi = c[j];
            for (size_t i = 1; i < 16; i++) {
                lo = c[i * d + j] < lo ? c[i * d + j] : lo;
                hi = c[i * d + j] > hi ? c[i * d + j] : hi;
            }
            for (size_t i = 0; i < n; i++)
                assert_int_equal((int8_t)q[i * d + j], ref_int8(x[i * d + j], lo, hi));
        }
        free(file);
    }
    /* refusals */
    labse_file_options fo = labse_default_file_options();
    fo.calibration = cal; /* not int8 */
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_E_INVALID);
    fo.dtype = LABSE_DTYPE_INT8;
    fo.calibration = NULL;
    fo.shard_count = 2;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/qdir/", g_tmp);
    assert_int_equal(labse_encode_file(m, gold, dir, &fo, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "needs calibration"));
    fo.shard_count = 1;
    fo.calibration = cal;
    write_npy_f32(cal, x, 4, d / 2); /* another dim */
    assert_int_equal(labse_encode_file(m, gold, out, &fo, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "cal.npy"));
    unlink(cal);
    unlink(out);
    free(f32file);
    labse_model_free(m);
}

/* ---- labse_encode_file's callbacks ------------------------------------------------------- */

typedef struct cb_state {
    int progress_calls, stop_after, polls;
    labse_progress last;
} cb_state;

static void on_progress(const labse_progress *p, void *user) {
    cb_state *c = user;
    c->progress_calls++;
    c->last = *p;
}

/* Stop once it has been polled stop_after times (never when stop_after < 0). */
static int on_poll(void *user) {
    cb_state *c = user;
    c->polls++;
    return c->stop_after >= 0 && c->polls > c->stop_after;
}

static void test_encode_file_callbacks(void **state) {
    (void)state;
    char in[512], out[512], dir[512], ref[512];
    snprintf(in, sizeof in, "%s/cb.txt", g_tmp);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = 0; i < 300; i++) fprintf(f, "line %d of a small corpus %s\n", i, i % 7 ? "x" : "");
    fclose(f);
    labse_options mo = labse_default_options();
    mo.device = LABSE_DEVICE_CPU;
    mo.threads = 1;
    mo.window = 32;  /* ten windows: polls between batches, progress after each */
    labse_model *m = NULL;
    labse_error err;
    assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);

    /* progress, to the end */
    cb_state c = {0, -1, 0, {0}};
    labse_file_options fo = labse_default_file_options();
    fo.progress = on_progress;
    fo.progress_interval = 0;
    fo.should_stop = on_poll;
    fo.user = &c;
    labse_file_stats st;
    snprintf(out, sizeof out, "%s/cb.npy", g_tmp);
    assert_int_equal(labse_encode_file(m, in, out, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 0);
    assert_int_equal(st.lines, 300);
    assert_string_equal(st.output, out);
    assert_true(c.progress_calls >= 10);
    assert_int_equal(c.last.lines_done, 300);
    assert_int_equal(c.last.lines_total, 300);
    assert_int_equal(c.last.bytes_done, c.last.bytes_total);
    assert_true(c.polls >= 10);
    assert_int_equal(labse_output_is_folder(out), 0);
    unlink(out);

    /* stop a .npy run: no file */
    c = (cb_state){0, 3, 0, {0}};
    assert_int_equal(labse_encode_file(m, in, out, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 1);
    assert_true(st.lines < 300);
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0);

    /* stop a folder run, then resume: the bytes of an uninterrupted run */
    snprintf(dir, sizeof dir, "%s/cbdir/", g_tmp);
    snprintf(ref, sizeof ref, "%s/cbref/", g_tmp);
    assert_int_equal(labse_output_is_folder(dir), 1);
    fo.part_rows = 64;
    c = (cb_state){0, 5, 0, {0}};
    assert_int_equal(labse_encode_file(m, in, dir, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 1);
    uint64_t done = st.lines;
    assert_true(done > 0 && done < 300);
    c = (cb_state){0, -1, 0, {0}};
    assert_int_equal(labse_encode_file(m, in, dir, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 0);
    assert_true(st.lines_resumed > 0 && st.lines_resumed <= done);
    assert_int_equal(st.lines_resumed + st.lines, 300);
    fo.should_stop = NULL;
    fo.progress = NULL;
    assert_int_equal(labse_encode_file(m, in, ref, &fo, &st, &err), LABSE_OK);
    assert_int_equal(labse_output_is_folder(ref), 1);
    for (int part = 0; part < 5; part++) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%spart-%05d.npy", dir, part);
        snprintf(b, sizeof b, "%spart-%05d.npy", ref, part);
        size_t la, lb;
        char *da = tf_read_all(a, &la), *db = tf_read_all(b, &lb);
        assert_non_null(da);
        assert_non_null(db);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
        unlink(a);
        unlink(b);
    }
    char mf[600];
    snprintf(mf, sizeof mf, "%smanifest.json", dir);
    unlink(mf);
    snprintf(mf, sizeof mf, "%smanifest.json", ref);
    unlink(mf);
    rmdir(dir);
    rmdir(ref);
    unlink(in);
    labse_model_free(m);
}

/* ---- labse_encode_file with dedup (issue 12 section 4) ---------------------------------- */

/* The rows of the .npy at path (f32), malloc'ed; *rows_out lines of dim floats. */
static float *read_rows(const char *path, size_t dim, size_t *rows_out) {
    size_t flen, dlen;
    char *file = tf_read_all(path, &flen);
    assert_non_null(file);
    const char *data = tf_npy_data(file, flen, &dlen);
    float *x = malloc(dlen ? dlen : 1);
    assert_non_null(x);
    memcpy(x, data, dlen);
    free(file);
    *rows_out = dlen / (dim * sizeof(float));
    return x;
}

/* 2000 lines made of 37 distinct ones (line i is text (7 i) mod 37, so every one occurs):
 * with one line per batch (batch_tokens 1: a row cannot depend on the other lines of its
 * batch) the rows with dedup are byte-identical to the rows without, also with a table of 5
 * lines that forgets them all; duplicates = 2000 - 37 (0 with that table). With the default budget the batches differ (the
 * duplicates are not in them) and the CPU GEMMs are not batch-invariant to the last bit
 * (measured: 1.6e-7 on tiny-bert): rows within 1e-5 of the plain ones (a few float32 ulps
 * of values of order 1) and every duplicate byte-identical to its first occurrence. */
static void test_encode_file_dedup(void **state) {
    (void)state;
    enum { N = 2000, K = 37 };
    char in[512], a[512], b[512];
    snprintf(in, sizeof in, "%s/dd.txt", g_tmp);
    snprintf(a, sizeof a, "%s/dd_a.npy", g_tmp);
    snprintf(b, sizeof b, "%s/dd_b.npy", g_tmp);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    for (int i = 0; i < N; i++) {
        int t = (7 * i) % K;
        fprintf(f, "text %d%.*s\n", t, t % 13, " and more words here");
    }
    fclose(f);
    for (int budget = 0; budget < 2; budget++) {
        labse_options mo = labse_default_options();
        mo.device = LABSE_DEVICE_CPU;
        mo.threads = 1;
        mo.window = 300;
        if (budget == 0) mo.batch_tokens = 1;
        labse_model *m = NULL;
        labse_error err;
        assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);
        size_t dim = (size_t)labse_model_dim(m), na, nb;
        labse_file_options fo = labse_default_file_options();
        labse_file_stats st;
        assert_int_equal(labse_encode_file(m, in, a, &fo, &st, &err), LABSE_OK);
        assert_int_equal(st.duplicates, 0);
        float *ra = read_rows(a, dim, &na);
        for (int table = 0; table < 2; table++) {
            fo.dedup = 1;
            fo.dedup_table = table ? 5 : 0;
            assert_int_equal(labse_encode_file(m, in, b, &fo, &st, &err), LABSE_OK);
            assert_int_equal(st.lines, N);
            /* the texts come round every K = 37 lines: a table of 5 has forgotten each one
             * before it comes back (none found: all encoded again); a full table finds all */
            assert_int_equal(st.duplicates, table ? 0 : N - K);
            float *rb = read_rows(b, dim, &nb);
            assert_int_equal(na, N);
            assert_int_equal(nb, N);
            if (budget == 0) {
                assert_memory_equal(ra, rb, (size_t)N * dim * sizeof(float));
            } else {
                for (size_t i = 0; i < (size_t)N * dim; i++) assert_true(fabsf(ra[i] - rb[i]) <= 1e-5f);
                for (int i = K; i < N && !table; i++) /* line i repeats line i mod K... */
                    assert_memory_equal(rb + (size_t)i * dim, rb + (size_t)(i % K) * dim,
                                        dim * sizeof(float)); /* ...first seen at i mod K */
            }
            free(rb);
        }
        fo.dedup = 2;
        assert_int_equal(labse_encode_file(m, in, b, &fo, NULL, &err), LABSE_E_INVALID);
        fo.dedup = 1;
        fo.dedup_table = ((uint64_t)1 << 24) + 1;
        assert_int_equal(labse_encode_file(m, in, b, &fo, NULL, &err), LABSE_E_INVALID);
        free(ra);
        labse_model_free(m);
    }
}

/* ---- labse_mine ------------------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static void test_mine_equals_cli(void **state) {
    (void)state;
    enum { NS = 37, NT = 29, DIM = 16 };
    static float a[NS * DIM], b[NT * DIM];
    for (int i = 0; i < NS * DIM; i++) a[i] = frand();
    for (int i = 0; i < NT * DIM; i++) b[i] = frand();
    /* translations: target j near source 2j+1 */
    for (int j = 0; j < NT && 2 * j + 1 < NS; j += 2)
        for (int d = 0; d < DIM; d++) b[j * DIM + d] = a[(2 * j + 1) * DIM + d] + 0.05f * frand();
    char pa[512], pb[512], po[512];
    snprintf(pa, sizeof pa, "%s/a.npy", g_tmp);
    snprintf(pb, sizeof pb, "%s/b.npy", g_tmp);
    snprintf(po, sizeof po, "%s/pairs.tsv", g_tmp);
    write_npy_f32(pa, a, NS, DIM);
    write_npy_f32(pb, b, NT, DIM);
    static const char *margins[] = {"ratio", "distance", "absolute"};
    static const char *retrs[] = {"forward", "backward", "intersect", "max"};
    for (int mg = 0; mg < 3; mg++)
        for (int r = 0; r < 4; r++)
            for (int th = 0; th < 2; th++) {
                labse_mine_options o = labse_default_mine_options();
                o.k = 3;
                o.margin = (labse_margin)mg;
                o.retrieval = (labse_retrieval)r;
                o.block_rows = 8;
                o.threads = 2;
                double thr = mg == 0 ? 1.05 : mg == 1 ? 0.05 : 0.3;
                if (th) o.threshold = thr;
                labse_pair *pairs = NULL;
                size_t np = 0;
                labse_error err;
                assert_int_equal(labse_mine(a, NS, b, NT, DIM, &o, &pairs, &np, &err), LABSE_OK);
                char cmd[2048], thr_arg[64] = "";
                if (th) snprintf(thr_arg, sizeof thr_arg, "--threshold %.17g", thr);
                snprintf(cmd, sizeof cmd,
                         "'%s' mine -q -k 3 -t 2 --block-rows 8 --margin %s --retrieval %s %s --src-emb '%s' "
                         "--tgt-emb '%s' -o '%s'",
                         g_cli, margins[mg], retrs[r], thr_arg, pa, pb, po);
                assert_int_equal(system(cmd), 0);
                size_t len;
                char *tsv = tf_read_all(po, &len);
                assert_non_null(tsv);
                /* our pairs in the CLI's format */
                size_t cap = np * 64 + 1, w = 0;
                char *mine = malloc(cap);
                mine[0] = '\0';
                for (size_t i = 0; i < np; i++)
                    w += (size_t)snprintf(mine + w, cap - w, "%.8f\t%" PRIu64 "\t%" PRIu64 "\n",
                                          pairs[i].score, pairs[i].src, pairs[i].tgt);
                if (strcmp(mine, tsv) != 0)
                    fail_msg("%s/%s threshold %d (%zu pairs): labse_mine differs from the CLI:\n%s\nvs\n%s",
                             margins[mg], retrs[r], th, np, mine, tsv);
                if (r == 1 && !th) assert_int_equal(np, NT);
                free(mine);
                free(tsv);
                labse_free(pairs);
            }
    /* errors */
    labse_pair *pairs = NULL;
    size_t np = 0;
    labse_error err;
    assert_int_equal(labse_mine(a, 0, b, NT, DIM, NULL, &pairs, &np, &err), LABSE_E_INVALID);
    assert_true(strstr(err.message, "no rows") != NULL);
    a[5 * DIM + 3] = NAN;
    assert_int_equal(labse_mine(a, NS, b, NT, DIM, NULL, &pairs, &np, &err), LABSE_E_FORMAT);
    assert_true(strstr(err.message, "row 5") != NULL);
    a[5 * DIM + 3] = 0.5f;
    labse_mine_options o = labse_default_mine_options();
    o.k = 0;
    assert_int_equal(labse_mine(a, NS, b, NT, DIM, &o, &pairs, &np, &err), LABSE_E_INVALID);
    o = labse_default_mine_options();
    o.k = 1000;  /* lowered to min(ns, nt) */
    assert_int_equal(labse_mine(a, NS, b, NT, DIM, &o, &pairs, &np, &err), LABSE_OK);
    labse_free(pairs);
    labse_free(NULL);
    unlink(pa);
    unlink(pb);
    unlink(po);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_api_file_mine MODEL_DIR LABSE_CLI\n");
        return 2;
    }
    g_model_dir = argv[1];
    g_cli = argv[2];
    if (tf_no_model(g_model_dir)) return 77;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_api_file_mine.XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_file_equals_encode),
        cmocka_unit_test(test_encode_file_callbacks),
        cmocka_unit_test(test_encode_file_formats),
        cmocka_unit_test(test_encode_file_dedup),
        cmocka_unit_test(test_mine_equals_cli),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(g_tmp);
    return rc;
}
