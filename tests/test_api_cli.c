/* test_api_cli.c — the public API the CLI is built on (include/labse.h): labse_text (line
 * rules), labse_embeddings (open a .npy and a part folder, wrap, encode, read),
 * labse_mine_embeddings (== labse_mine, k lowered), labse_eval_embeddings,
 * labse_write_pairs_tsv (exact bytes, atomic, errors), labse_merge (errors), the margin /
 * retrieval names.
 *
 * Usage: test_api_cli MODEL_DIR   (missing model folder: the model tests are skipped)
 */
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

static const char *g_model_dir;
static char g_tmp[256];

static void path_in_tmp(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_tmp, name);
}

static void write_npy_f32(const char *path, const float *x, size_t rows, size_t dim) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }", rows, dim);
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    size_t hl = (size_t)n + pad + 1;
    unsigned char l2[2] = {(unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(l2, 1, 2, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof *x, rows * dim, f);
    assert_int_equal(fclose(f), 0);
}

/* Deterministic pseudo-random rows with a few near-duplicates. */
static float *random_rows(size_t rows, size_t dim, unsigned seed) {
    float *x = malloc(rows * dim * sizeof *x);
    assert_non_null(x);
    uint64_t s = 0x9E3779B97F4A7C15ull * (seed + 1);
    for (size_t i = 0; i < rows * dim; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = (float)((double)(s >> 11) / (double)(1ull << 53)) - 0.5f;
    }
    for (size_t r = 1; r < rows; r += 5)
        for (size_t j = 0; j < dim; j++) x[r * dim + j] = x[(r - 1) * dim + j] + 1e-3f * (float)j;
    return x;
}

/* ------------------------------------------------------------------------------------------ */

static void test_text_rules(void **state) {
    (void)state;
    char p[512];
    path_in_tmp(p, sizeof p, "lines.txt");
    /* "abc" | "x" (CRLF) | "" | "a\rb" | "n\0ul" | "last" (a lone '\r' at the end dropped) */
    static const char data[] = "abc\nx\r\n\na\rb\nn\0ul\nlast\r";
    tf_write_file(p, data, sizeof data - 1);
    labse_text *t = NULL;
    labse_error err;
    assert_int_equal(labse_text_read(p, &t, &err), LABSE_OK);
    assert_int_equal(labse_text_count(t), 6);
    static const struct { const char *s; size_t n; } want[] = {
        {"abc", 3}, {"x", 1}, {"", 0}, {"a\rb", 3}, {"n\0ul", 4}, {"last", 4}};
    for (size_t i = 0; i < 6; i++) {
        size_t len = 99;
        const char *l = labse_text_line(t, i, &len);
        assert_non_null(l);
        assert_int_equal(len, want[i].n);
        if (len) assert_memory_equal(l, want[i].s, len);
    }
    size_t len = 7;
    assert_null(labse_text_line(t, 6, &len));
    assert_int_equal(len, 0);
    labse_text_free(t);

    /* "" -> 0 lines; "\n" -> 1 empty line; "a\n" -> 1 */
    static const char *cases[] = {"", "\n", "a\n", "a\n\nb"};
    static const size_t counts[] = {0, 1, 1, 3};
    for (size_t c = 0; c < 4; c++) {
        tf_write_file(p, cases[c], strlen(cases[c]));
        t = NULL;
        assert_int_equal(labse_text_read(p, &t, &err), LABSE_OK);
        assert_int_equal(labse_text_count(t), counts[c]);
        labse_text_free(t);
    }

    /* errors */
    labse_text *keep = (labse_text *)&keep;
    path_in_tmp(p, sizeof p, "no-such.txt");
    assert_int_equal(labse_text_read(p, &keep, &err), LABSE_E_IO);
    assert_ptr_equal(keep, (labse_text *)&keep);
    assert_non_null(strstr(err.message, "no-such.txt"));
    assert_int_equal(labse_text_read(g_tmp, &keep, &err), LABSE_E_IO); /* a folder */
    assert_int_equal(labse_text_read(NULL, &keep, &err), LABSE_E_INVALID);
    assert_int_equal(labse_text_count(NULL), 0);
    assert_null(labse_text_line(NULL, 0, NULL));
    labse_text_free(NULL);
}

static void test_names(void **state) {
    (void)state;
    labse_margin m = LABSE_MARGIN_RATIO;
    labse_retrieval r = LABSE_RETRIEVAL_MAX;
    assert_int_equal(labse_margin_parse("distance", &m), 1);
    assert_int_equal(m, LABSE_MARGIN_DISTANCE);
    assert_int_equal(labse_margin_parse("nope", &m), 0);
    assert_int_equal(m, LABSE_MARGIN_DISTANCE);
    assert_int_equal(labse_retrieval_parse("intersect", &r), 1);
    assert_int_equal(r, LABSE_RETRIEVAL_INTERSECT);
    assert_int_equal(labse_retrieval_parse(NULL, &r), 0);
    assert_string_equal(labse_margin_name(LABSE_MARGIN_ABSOLUTE), "absolute");
    assert_string_equal(labse_retrieval_name(LABSE_RETRIEVAL_BACKWARD), "backward");
    assert_string_equal(labse_margin_name((labse_margin)17), "?");
}

static void assert_pairs_equal(const labse_pair *a, size_t na, const labse_pair *b, size_t nb) {
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_true(a[i].score == b[i].score);
        assert_int_equal(a[i].src, b[i].src);
        assert_int_equal(a[i].tgt, b[i].tgt);
    }
}

static void test_embeddings_npy_mine_eval(void **state) {
    (void)state;
    const size_t ns = 23, nt = 17, dim = 12;
    float *a = random_rows(ns, dim, 1), *b = random_rows(nt, dim, 2);
    char pa[512];
    path_in_tmp(pa, sizeof pa, "a.npy");
    write_npy_f32(pa, a, ns, dim);
    labse_error err;
    labse_embeddings *ea = NULL, *eb = NULL;
    assert_int_equal(labse_embeddings_open(pa, &ea, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_rows(ea), ns);
    assert_int_equal(labse_embeddings_dim(ea), dim);
    assert_string_equal(labse_embeddings_name(ea), pa);
    float *back = malloc(ns * dim * sizeof *back);
    assert_int_equal(labse_embeddings_read(ea, 0, ns, back, &err), LABSE_OK);
    assert_memory_equal(back, a, ns * dim * sizeof *a);
    assert_int_equal(labse_embeddings_read(ea, 1, ns, back, &err), LABSE_E_INVALID);
    free(back);
    assert_int_equal(labse_embeddings_wrap(b, nt, dim, "B", &eb, &err), LABSE_OK);
    assert_string_equal(labse_embeddings_name(eb), "B");

    /* == labse_mine for every margin x retrieval, and with a threshold */
    for (int m = 0; m <= LABSE_MARGIN_ABSOLUTE; m++)
        for (int r = 0; r <= LABSE_RETRIEVAL_MAX; r++)
            for (int k = 1; k <= 5; k += 2) {
                labse_mine_options o = labse_default_mine_options();
                o.k = k;
                o.margin = (labse_margin)m;
                o.retrieval = (labse_retrieval)r;
                o.block_rows = 5;
                if (k == 5) o.threshold = 1.0;
                labse_pair *p1 = NULL, *p2 = NULL;
                size_t n1 = 0, n2 = 0;
                int ku = 0;
                assert_int_equal(labse_mine(a, ns, b, nt, dim, &o, &p1, &n1, &err), LABSE_OK);
                assert_int_equal(labse_mine_embeddings(ea, eb, &o, &p2, &n2, &ku, &err), LABSE_OK);
                assert_int_equal(ku, k);
                assert_pairs_equal(p1, n1, p2, n2);
                labse_free(p1);
                labse_free(p2);
            }
    /* k lowered to the smaller corpus */
    labse_mine_options o = labse_default_mine_options();
    o.k = 100;
    labse_pair *p = NULL;
    size_t np = 0;
    int ku = 0;
    assert_int_equal(labse_mine_embeddings(ea, eb, &o, &p, &np, &ku, &err), LABSE_OK);
    assert_int_equal(ku, (int)nt);
    labse_free(p);
    /* AUTO never fails for a k above the GPU's 64 */
    o.device = LABSE_DEVICE_AUTO;
    p = NULL;
    assert_int_equal(labse_mine_embeddings(ea, eb, &o, &p, &np, NULL, &err), LABSE_OK);
    labse_free(p);

    /* errors: dim mismatch, empty, NaN row, bad k, NULL */
    labse_embeddings *ec = NULL, *ee = NULL, *en = NULL;
    assert_int_equal(labse_embeddings_wrap(b, nt, dim - 1, "C", &ec, &err), LABSE_OK);
    p = (labse_pair *)&p;
    assert_int_equal(labse_mine_embeddings(ea, ec, NULL, &p, &np, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "dimension"));
    assert_ptr_equal(p, (labse_pair *)&p);
    assert_int_equal(labse_embeddings_wrap(NULL, 0, dim, "E", &ee, &err), LABSE_OK);
    assert_int_equal(labse_mine_embeddings(ee, eb, NULL, &p, &np, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "no rows"));
    float *bad = random_rows(nt, dim, 3);
    bad[5 * dim + 2] = NAN;
    assert_int_equal(labse_embeddings_wrap(bad, nt, dim, "N", &en, &err), LABSE_OK);
    assert_int_equal(labse_mine_embeddings(ea, en, NULL, &p, &np, NULL, &err), LABSE_E_FORMAT);
    assert_non_null(strstr(err.message, "row 5"));
    o = labse_default_mine_options();
    o.k = 0;
    assert_int_equal(labse_mine_embeddings(ea, eb, &o, &p, &np, NULL, &err), LABSE_E_INVALID);
    assert_int_equal(labse_mine_embeddings(NULL, eb, NULL, &p, &np, NULL, &err), LABSE_E_INVALID);
    assert_int_equal(labse_embeddings_wrap(NULL, 3, dim, "X", &ee, &err), LABSE_E_INVALID);

    /* eval: a matrix against itself is perfect; unaligned corpora are refused */
    labse_eval_result res;
    memset(&res, 0, sizeof res);
    int keu = 0;
    o = labse_default_mine_options();
    o.k = 50;
    assert_int_equal(labse_eval_embeddings(ea, ea, &o, &res, &keu, &err), LABSE_OK);
    assert_int_equal(keu, (int)ns);
    assert_int_equal(res.n, ns);
    assert_true(res.cos_src2tgt == 1.0 && res.cos_tgt2src == 1.0);
    assert_true(res.margin_src2tgt >= 0.0 && res.margin_src2tgt <= 1.0);
    o.k = 1; /* the best of one neighbour is the nearest: itself */
    assert_int_equal(labse_eval_embeddings(ea, ea, &o, &res, &keu, &err), LABSE_OK);
    assert_int_equal(keu, 1);
    assert_true(res.margin_src2tgt == 1.0 && res.margin_tgt2src == 1.0);
    assert_int_equal(labse_eval_embeddings(ea, eb, NULL, &res, NULL, &err), LABSE_E_INVALID);
    assert_non_null(strstr(err.message, "aligned"));

    labse_embeddings_free(ea);
    labse_embeddings_free(eb);
    labse_embeddings_free(ec);
    labse_embeddings_free(ee);
    labse_embeddings_free(en);
    labse_embeddings_free(NULL);
    assert_int_equal(labse_embeddings_rows(NULL), 0);
    labse_embeddings *keep = (labse_embeddings *)&keep;
    path_in_tmp(pa, sizeof pa, "missing.npy");
    assert_int_equal(labse_embeddings_open(pa, &keep, &err), LABSE_E_IO);
    assert_ptr_equal(keep, (labse_embeddings *)&keep);
    assert_int_equal(labse_embeddings_open(g_tmp, &keep, &err) != LABSE_OK, 1); /* no manifest */
    free(a);
    free(b);
    free(bad);
}

static void test_write_pairs_tsv(void **state) {
    (void)state;
    char ps[512], pt[512], out[512];
    path_in_tmp(ps, sizeof ps, "src.txt");
    path_in_tmp(pt, sizeof pt, "tgt.txt");
    path_in_tmp(out, sizeof out, "pairs.tsv");
    tf_write_file(ps, "s0\ns\t1\r\n", 8);
    tf_write_file(pt, "t0\nt1\nt\t2", 9);
    labse_text *st = NULL, *tt = NULL;
    labse_error err;
    assert_int_equal(labse_text_read(ps, &st, &err), LABSE_OK);
    assert_int_equal(labse_text_read(pt, &tt, &err), LABSE_OK);
    const labse_pair pairs[] = {{1.25, 1, 2}, {-0.5, 0, 0}, {0.123456789, 1, 1}};
    assert_int_equal(labse_write_pairs_tsv(out, pairs, 3, st, tt, &err), LABSE_OK);
    size_t len;
    char *got = tf_read_all(out, &len);
    assert_non_null(got);
    assert_string_equal(got, "1.25000000\t1\t2\ts 1\tt 2\n"
                             "-0.50000000\t0\t0\ts0\tt0\n"
                             "0.12345679\t1\t1\ts 1\tt1\n");
    free(got);
    /* one text only: no text columns; replaced atomically */
    assert_int_equal(labse_write_pairs_tsv(out, pairs, 2, st, NULL, &err), LABSE_OK);
    got = tf_read_all(out, &len);
    assert_string_equal(got, "1.25000000\t1\t2\n-0.50000000\t0\t0\n");
    free(got);
    assert_int_equal(labse_write_pairs_tsv(out, NULL, 0, NULL, NULL, &err), LABSE_OK);
    got = tf_read_all(out, &len);
    assert_int_equal(len, 0);
    free(got);
    /* a row outside the texts: refused before writing */
    const labse_pair far[] = {{1.0, 0, 3}};
    assert_int_equal(labse_write_pairs_tsv(out, far, 1, st, tt, &err), LABSE_E_INVALID);
    /* an unwritable place: LABSE_E_IO naming the temporary, nothing left */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no-dir/p.tsv", g_tmp);
    assert_int_equal(labse_write_pairs_tsv(bad, pairs, 1, NULL, NULL, &err), LABSE_E_IO);
    assert_non_null(strstr(err.message, "cannot create"));
    assert_int_equal(labse_write_pairs_tsv(NULL, pairs, 1, NULL, NULL, &err), LABSE_E_INVALID);
    labse_text_free(st);
    labse_text_free(tt);
}

static void test_merge_errors(void **state) {
    (void)state;
    labse_error err;
    uint64_t rows = 77;
    char out[512], npy[512], missing[512];
    path_in_tmp(out, sizeof out, "merged");
    path_in_tmp(npy, sizeof npy, "merged.npy");
    path_in_tmp(missing, sizeof missing, "no-such-shard");
    const char *shards[] = {missing};
    assert_int_equal(labse_merge(out, NULL, 1, NULL, &rows, &err), LABSE_E_INVALID);
    assert_int_equal(labse_merge(out, shards, 0, NULL, &rows, &err), LABSE_E_INVALID);
    assert_int_equal(labse_merge(NULL, shards, 1, NULL, &rows, &err), LABSE_E_INVALID);
    assert_int_not_equal(labse_merge(out, shards, 1, npy, &rows, &err), LABSE_OK);
    assert_non_null(strstr(err.message, "no-such-shard"));
    assert_int_equal(rows, 77);
    struct stat sb;
    assert_int_not_equal(stat(npy, &sb), 0);
}

/* With the model: labse_embeddings_encode == labse_encode; a folder of labse_encode_file
 * opens to the same rows as its .npy; labse_merge of one shard gives those rows again. */
static void test_model(void **state) {
    (void)state;
    char cfg[600];
    snprintf(cfg, sizeof cfg, "%s/config.json", g_model_dir);
    if (access(cfg, R_OK) != 0) skip();
    labse_options mo = labse_default_options();
    mo.device = LABSE_DEVICE_CPU;
    mo.threads = 1;
    labse_model *m = NULL;
    labse_session *s = NULL;
    labse_error err;
    assert_int_equal(labse_model_load(g_model_dir, &mo, &m, &err), LABSE_OK);
    assert_int_equal(labse_session_new(m, &s, &err), LABSE_OK);
    size_t dim = (size_t)labse_model_dim(m);

    char in[512], npy[512], dir[512], shard_root[512], merged[512];
    path_in_tmp(in, sizeof in, "corpus.txt");
    static const char corpus[] = "hello world\nbonjour le monde\n\nhallo welt\r\nthe end";
    tf_write_file(in, corpus, sizeof corpus - 1);
    labse_text *t = NULL;
    assert_int_equal(labse_text_read(in, &t, &err), LABSE_OK);
    size_t n = labse_text_count(t);
    assert_int_equal(n, 5);
    const char *texts[5];
    size_t lens[5];
    for (size_t i = 0; i < n; i++) texts[i] = labse_text_line(t, i, &lens[i]);
    float *want = malloc(n * dim * sizeof *want), *got = malloc(n * dim * sizeof *got);
    assert_int_equal(labse_encode(s, texts, lens, n, want, &err), LABSE_OK);
    labse_embeddings *e = NULL;
    assert_int_equal(labse_embeddings_encode(s, m, texts, lens, n, "corpus", &e, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_rows(e), n);
    assert_int_equal(labse_embeddings_dim(e), dim);
    assert_int_equal(labse_embeddings_read(e, 0, n, got, &err), LABSE_OK);
    assert_memory_equal(got, want, n * dim * sizeof *got);
    labse_embeddings_free(e);

    /* .npy and part folder of labse_encode_file: the same rows */
    path_in_tmp(npy, sizeof npy, "corpus.npy");
    path_in_tmp(dir, sizeof dir, "corpus-parts/");
    labse_file_options fo = labse_default_file_options();
    fo.part_rows = 2;
    fo.tok_threads = 1;
    assert_int_equal(labse_encode_file(m, in, npy, &fo, NULL, &err), LABSE_OK);
    assert_int_equal(labse_encode_file(m, in, dir, &fo, NULL, &err), LABSE_OK);
    labse_embeddings *en = NULL, *ed = NULL;
    assert_int_equal(labse_embeddings_open(npy, &en, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_open(dir, &ed, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_rows(ed), n);
    assert_int_equal(labse_embeddings_dim(ed), dim);
    float *g2 = malloc(n * dim * sizeof *g2);
    assert_int_equal(labse_embeddings_read(en, 0, n, got, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_read(ed, 0, n, g2, &err), LABSE_OK);
    assert_memory_equal(got, g2, n * dim * sizeof *got);

    /* merge: one shard of 1 */
    path_in_tmp(shard_root, sizeof shard_root, "sharded/");
    fo.shard_index = 0;
    fo.shard_count = 2;
    assert_int_equal(labse_encode_file(m, in, shard_root, &fo, NULL, &err), LABSE_OK);
    fo.shard_index = 1;
    assert_int_equal(labse_encode_file(m, in, shard_root, &fo, NULL, &err), LABSE_OK);
    char s0[600], s1[600];
    snprintf(s0, sizeof s0, "%sshard-00000-of-00002", shard_root);
    snprintf(s1, sizeof s1, "%sshard-00001-of-00002", shard_root);
    const char *shards[] = {s1, s0};
    path_in_tmp(merged, sizeof merged, "merged.npy");
    uint64_t rows = 0;
    assert_int_not_equal(labse_merge(NULL, shards, 1, merged, &rows, &err), LABSE_OK);
    assert_int_equal(labse_merge(NULL, shards, 2, merged, &rows, &err), LABSE_OK);
    assert_int_equal(rows, n);
    labse_embeddings *em = NULL;
    assert_int_equal(labse_embeddings_open(merged, &em, &err), LABSE_OK);
    assert_int_equal(labse_embeddings_read(em, 0, n, g2, &err), LABSE_OK);
    assert_memory_equal(got, g2, n * dim * sizeof *got);

    labse_embeddings_free(em);
    labse_embeddings_free(en);
    labse_embeddings_free(ed);
    free(want);
    free(got);
    free(g2);
    labse_text_free(t);
    labse_session_free(s);
    labse_model_free(m);
}

int main(int argc, char **argv) {
    g_model_dir = argc > 1 ? argv[1] : "";
    snprintf(g_tmp, sizeof g_tmp, "/tmp/test_api_cli.XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_rules),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_embeddings_npy_mine_eval),
        cmocka_unit_test(test_write_pairs_tsv),
        cmocka_unit_test(test_merge_errors),
        cmocka_unit_test(test_model),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    return rc;
}
