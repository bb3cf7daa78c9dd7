/* test_api_files.c — many files in one run (issue 12 §2) through the C API and its pieces.
 *
 * Usage: test_api_files MODEL_DIR   (missing model folder → exit 77, skip)
 *
 *   - lb_files_name: the documented examples; lb_files_read_list: blank lines and CRLF;
 *   - lb_files_plan: deterministic, every piece dealt once, a file over total/N cut into
 *     ranges, the tasks' bytes within one piece of each other (greedy largest-first bound);
 *   - labse_encode_files with shard_count 2 (both tasks) + labse_merge of the folder ==
 *     labse_encode_file of each input, rows concatenated, byte for byte; progress counts the
 *     bytes of all the task's inputs; labse_embeddings_open of the folder == the merged rows;
 *   - should_stop mid-list, then the same call: resumed, the same bytes;
 *   - refused: a .npy output, a NULL input, two inputs with one folder name, merge of a folder
 *     with an input missing.
 */
#include <inttypes.h>
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

static const char *g_model_dir;
static char g_tmp[256];

static void test_names_and_list(void **state) {
    (void)state;
    char n[LB_FILES_NAME_MAX + 1];
    assert_int_equal(lb_files_name("data/en/a.txt.gz", n), 0);
    assert_string_equal(n, "data__en__a.txt.gz");
    assert_int_equal(lb_files_name("/x/./b", n), 0);
    assert_string_equal(n, "x__b");
    assert_int_equal(lb_files_name("../c", n), 0);
    assert_string_equal(n, "_.__c");
    assert_int_equal(lb_files_name("sp ace/\xc3\xa9", n), 0);
    assert_string_equal(n, "sp_ace____"); /* U+00E9 is two bytes, each replaced */
    assert_int_equal(lb_files_name("//./", n), -1);
    char longp[400];
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(lb_files_name(longp, n), -1);

    char lp[512];
    snprintf(lp, sizeof lp, "%s/list.txt", g_tmp);
    const char text[] = "a.txt\r\n\n  \t\nsub/b.gz\nlast";
    tf_write_file(lp, text, sizeof text - 1);
    char **paths = NULL;
    size_t np = 0;
    labse_error err;
    assert_int_equal(labse_read_input_list(lp, &paths, &np, &err), LABSE_OK);
    assert_int_equal(np, 3);
    assert_string_equal(paths[0], "a.txt");
    assert_string_equal(paths[1], "sub/b.gz");
    assert_string_equal(paths[2], "last");
    for (size_t i = 0; i < np; i++) labse_free(paths[i]);
    labse_free(paths);
    tf_write_file(lp, "\n \n", 3);
    assert_int_equal(labse_read_input_list(lp, &paths, &np, &err), LABSE_E_INVALID);
    unlink(lp);
}

static void test_plan(void **state) {
    (void)state;
    /* 40 files of various sizes, one huge (~ half the total), two empty */
    enum { NF = 40 };
    uint64_t sizes[NF];
    char *paths[NF], *names[NF];
    uint64_t total = 0;
    for (int i = 0; i < NF; i++) {
        sizes[i] = (uint64_t)(1000 + (i * 7919) % 5000);
        paths[i] = names[i] = (char *)"x";
    }
    sizes[3] = 0;
    sizes[17] = 0;
    sizes[20] = 120000;
    for (int i = 0; i < NF; i++) total += sizes[i];
    lb_files f = {NF, paths, names, sizes};
    for (int ntasks = 1; ntasks <= 9; ntasks += 4) {
        lb_files_piece *p = NULL, *q = NULL;
        size_t np = 0, nq = 0;
        labse_error err;
        assert_int_equal(lb_files_plan(&f, ntasks, &p, &np, &err), LABSE_OK);
        assert_int_equal(lb_files_plan(&f, ntasks, &q, &nq, &err), LABSE_OK);
        assert_int_equal(np, nq);
        assert_memory_equal(p, q, np * sizeof *p); /* deterministic */
        uint64_t load[9] = {0}, covered[NF] = {0}, maxpiece = 0;
        for (size_t k = 0; k < np; k++) {
            assert_true(p[k].task >= 0 && p[k].task < ntasks);
            assert_true(p[k].index >= 0 && p[k].index < p[k].count);
            assert_true(k == 0 || p[k - 1].file < p[k].file ||
                        (p[k - 1].file == p[k].file && p[k - 1].index + 1 == p[k].index));
            load[p[k].task] += p[k].bytes;
            covered[p[k].file] += p[k].bytes;
            if (p[k].bytes > maxpiece) maxpiece = p[k].bytes;
            /* only a file over total/N is cut */
            if (p[k].count > 1) assert_true(sizes[p[k].file] > total / (uint64_t)ntasks);
            else if (ntasks > 1) assert_true(sizes[p[k].file] <= total / (uint64_t)ntasks);
        }
        for (int i = 0; i < NF; i++) assert_int_equal(covered[i], sizes[i]);
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int t = 0; t < ntasks; t++) {
            if (load[t] < lo) lo = load[t];
            if (load[t] > hi) hi = load[t];
        }
        /* largest-first greedy: the most loaded task got its last piece while least loaded,
         * so max - min <= the largest piece */
        assert_true(hi - lo <= maxpiece);
        if (ntasks == 5) assert_true(np > NF); /* the huge file was cut */
        free(p);
        free(q);
    }
}

/* Write a text of n lines ("tag line i ...") to dir/name; returns the path in buf. */
static const char *write_text(char *buf, size_t cap, const char *name, const char *tag, int n) {
    snprintf(buf, cap, "%s/%s", g_tmp, name);
    FILE *f = fopen(buf, "w");
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s line %d", tag, i);
        for (int j = 0; j < (i * 7) % 13; j++) fprintf(f, " w%d", (i + j) % 31);
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

typedef struct cb_state {
    int calls, polls, stop_after;
    labse_progress last;
} cb_state;

static void on_progress(const labse_progress *p, void *user) {
    cb_state *c = user;
    c->calls++;
    c->last = *p;
}

static int on_poll(void *user) {
    cb_state *c = user;
    c->polls++;
    return c->stop_after >= 0 && c->polls > c->stop_after;
}

static void rm_rf(const char *p) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static void test_encode_files(void **state) {
    (void)state;
    char p0[512], p1[512], p2[512];
    const char *in[3] = {write_text(p0, sizeof p0, "a.txt", "alpha", 150),
                         write_text(p1, sizeof p1, "e.txt", "none", 0),
                         write_text(p2, sizeof p2, "big.txt", "beta", 700)};
    labse_options mo = labse_default_options();
    mo.device = LABSE_DEVICE_CPU;
    mo.threads = 1;
    mo.window = 50;
    labse_model *m = NULL;
    labse_error err;
    assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);
    labse_file_options fo = labse_default_file_options();
    fo.part_rows = 100;
    fo.progress_interval = 0;

    /* reference: each input alone */
    size_t ref_len = 0;
    char *ref = malloc(1);
    for (int i = 0; i < 3; i++) {
        char o[600];
        snprintf(o, sizeof o, "%s/ref%d.npy", g_tmp, i);
        assert_int_equal(labse_encode_file(m, in[i], o, &fo, NULL, &err), LABSE_OK);
        size_t l, dl;
        char *b = tf_read_all(o, &l);
        const char *d = tf_npy_data(b, l, &dl);
        ref = realloc(ref, ref_len + dl + 1);
        memcpy(ref + ref_len, d, dl);
        ref_len += dl;
        free(b);
        unlink(o);
    }

    /* two tasks: the big input (over total/2) is cut, the others whole */
    char out[600], npy[600];
    snprintf(out, sizeof out, "%s/many/", g_tmp);
    snprintf(npy, sizeof npy, "%s/many.npy", g_tmp);
    struct stat sb;
    uint64_t sizes = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(stat(in[i], &sb), 0);
        sizes += (uint64_t)sb.st_size;
    }
    uint64_t bytes_seen = 0;
    for (int k = 0; k < 2; k++) {
        cb_state c = {0, 0, -1, {0}};
        fo.progress = on_progress;
        fo.should_stop = on_poll;
        fo.user = &c;
        fo.shard_index = k;
        fo.shard_count = 2;
        labse_file_stats st;
        assert_int_equal(labse_encode_files(m, in, 3, out, &fo, &st, &err), LABSE_OK);
        assert_true(c.calls > 0);
        assert_int_equal(c.last.bytes_done, c.last.bytes_total);
        assert_int_equal(c.last.lines_total, 0);
        bytes_seen += c.last.bytes_total;
        if (k == 0) { /* task 1 has not run: merge names a missing input */
            assert_int_equal(labse_merge(NULL, (const char *[]){out}, 1, npy, NULL, &err),
                             LABSE_E_INVALID);
            assert_non_null(strstr(err.message, "missing"));
        }
    }
    assert_int_equal(bytes_seen, sizes); /* the two tasks' bytes cover every input once */
    /* the folder name of an absolute path keeps its components: find the big input's */
    char n[LB_FILES_NAME_MAX + 1], sh[1200];
    assert_int_equal(lb_files_name(in[2], n), 0);
    snprintf(sh, sizeof sh, "%s/many/%s/shard-00000-of-00002/manifest.json", g_tmp, n);
    assert_int_equal(stat(sh, &sb), 0);
    uint64_t rows = 0;
    assert_int_equal(labse_merge(NULL, (const char *[]){out}, 1, npy, &rows, &err), LABSE_OK);
    assert_int_equal(rows, 850);
    size_t l, dl;
    char *b = tf_read_all(npy, &l);
    const char *d = tf_npy_data(b, l, &dl);
    assert_int_equal(dl, ref_len);
    assert_memory_equal(d, ref, dl);

    /* the folder as embeddings: the merged rows, in order */
    labse_embeddings *e = NULL;
    assert_int_equal(labse_embeddings_open(out, &e, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_rows(e), 850);
    size_t dim = labse_embeddings_dim(e);
    float *rowsf = malloc(850 * dim * sizeof *rowsf);
    assert_int_equal(labse_embeddings_read(e, 0, 850, rowsf, &err), LABSE_OK);
    assert_memory_equal(rowsf, d, 850 * dim * sizeof *rowsf);
    free(rowsf);
    labse_embeddings_free(e);
    free(b);

    /* stop mid-list, then resume: same bytes */
    char out2[600], npy2[600];
    snprintf(out2, sizeof out2, "%s/many2/", g_tmp);
    snprintf(npy2, sizeof npy2, "%s/many2.npy", g_tmp);
    fo.shard_index = 0;
    fo.shard_count = 1;
    cb_state c = {0, 0, 8, {0}};
    fo.user = &c;
    labse_file_stats st;
    assert_int_equal(labse_encode_files(m, in, 3, out2, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 1);
    assert_true(st.lines < 850);
    c = (cb_state){0, 0, -1, {0}};
    assert_int_equal(labse_encode_files(m, in, 3, out2, &fo, &st, &err), LABSE_OK);
    assert_int_equal(st.stopped, 0);
    assert_true(st.lines_resumed > 0);
    assert_int_equal(st.lines_resumed + st.lines, 850);
    assert_int_equal(labse_merge(NULL, (const char *[]){out2}, 1, npy2, &rows, &err), LABSE_OK);
    b = tf_read_all(npy2, &l);
    d = tf_npy_data(b, l, &dl);
    assert_int_equal(dl, ref_len);
    assert_memory_equal(d, ref, dl);
    free(b);

    /* refusals */
    fo.progress = NULL;
    fo.should_stop = NULL;
    assert_int_equal(labse_encode_files(m, in, 3, npy2, &fo, NULL, &err), LABSE_E_INVALID);
    const char *with_null[2] = {in[0], NULL};
    assert_int_equal(labse_encode_files(m, with_null, 2, out2, &fo, NULL, &err), LABSE_E_INVALID);
    const char *twice[2] = {in[0], in[0]};
    char out3[600];
    snprintf(out3, sizeof out3, "%s/many3/", g_tmp);
    assert_int_equal(labse_encode_files(m, twice, 2, out3, &fo, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "would both be written"));
    assert_int_not_equal(stat(out3, &sb), 0);

    free(ref);
    unlink(npy);
    unlink(npy2);
    rm_rf(out);
    rm_rf(out2);
    for (int i = 0; i < 3; i++) unlink(in[i]);
    labse_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_api_files MODEL_DIR\n");
        return 2;
    }
    g_model_dir = argv[1];
    if (tf_no_model(g_model_dir)) return 77;
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_api_files.XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_list),
        cmocka_unit_test(test_plan),
        cmocka_unit_test(test_encode_files),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rm_rf(g_tmp);
    return rc;
}
