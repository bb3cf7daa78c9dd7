/* test_npy.c — the .npy header bytes (exactly numpy's), the streaming writer lb_npys over the
 * atomic file layer (temp name, rename, nothing left on failure, header fixed at commit) and
 * the validating reader. Label: unit. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "test_files.h"

#include "io/atomic_file.h"
#include "io/npy.h"
#include "io/quant.h"

/* ---- helpers ------------------------------------------------------------------------------ */

static char g_dir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/labse_test_npy.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    DIR *d = opendir(g_dir);
    if (d) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            if (unlink(p) != 0) rmdir(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
    return 0;
}

/* Number of entries in g_dir other than . and .. */
static int dir_entries(void) {
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* ---- header bytes: the expected strings were produced once with
 * numpy 2.4 numpy.lib.format.write_array_header_1_0 ---------------------------------------- */

static void check_header(lb_npy_dtype dt, uint64_t r, uint64_t c, const char *expect,
                         size_t expect_len) {
    char buf[LB_NPY_HEADER_MAX];
    size_t n = lb_npy_header(buf, dt, r, c);
    assert_int_equal(n, expect_len);
    assert_int_equal(n % 64, 0);
    assert_memory_equal(buf, expect, expect_len);
}

#define CHECK_HEADER(dt, r, c, lit) check_header(dt, r, c, lit, sizeof(lit) - 1)

static void test_header_bytes(void **state) {
    (void)state;
    CHECK_HEADER(LB_NPY_F32, 0, 384,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (0, 384), }                                                        \x0a");
    CHECK_HEADER(LB_NPY_F32, 3, 768,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (3, 768), }                                                        \x0a");
    CHECK_HEADER(LB_NPY_F32, 1, 1,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (1, 1), }                                                          \x0a");
    CHECK_HEADER(LB_NPY_F32, 123456789, 768,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (123456789, 768), }                                                \x0a");
    CHECK_HEADER(LB_NPY_F16, 5, 768,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f2', 'fortran_order': False, "
                 "'shape': (5, 768), }                                                        \x0a");
    CHECK_HEADER(LB_NPY_F32, UINT64_MAX, UINT64_MAX,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (18446744073709551615, 18446744073709551615), }                    \x0a");
    CHECK_HEADER(LB_NPY_F32, 7, 1000000000000000ULL,
                 "\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (7, 1000000000000000), }                                           \x0a");
    char buf[LB_NPY_HEADER_MAX];
    assert_int_equal(lb_npy_header(buf, (lb_npy_dtype)7, 1, 1), 0);
    assert_int_equal(lb_npy_dtype_size(LB_NPY_F32), 4);
    assert_int_equal(lb_npy_dtype_size(LB_NPY_F16), 2);
}

/* Every header we write parses back to the same shape. */
static void test_header_roundtrip(void **state) {
    (void)state;
    const uint64_t rs[] = {0, 1, 9, 10, 4096, 1000000007ULL, UINT64_MAX / 4};
    const uint64_t cs[] = {1, 384, 768};
    for (size_t i = 0; i < sizeof rs / sizeof *rs; i++)
        for (size_t j = 0; j < sizeof cs / sizeof *cs; j++) {
            char buf[LB_NPY_HEADER_MAX];
            size_t n = lb_npy_header(buf, LB_NPY_F32, rs[i], cs[j]);
            assert_true(n > 0);
            lb_npy_info info;
            labse_error err;
            labse_status s = lb_npy_parse_header(buf, n, "x", &info, &err);
            if (rs[i] > SIZE_MAX / cs[j] / 4) {
                assert_int_equal(s, LABSE_E_FORMAT); /* byte size overflows */
                continue;
            }
            assert_int_equal(s, LABSE_OK);
            assert_int_equal(info.rows, rs[i]);
            assert_int_equal(info.cols, cs[j]);
            assert_int_equal(info.ndim, 2);
            assert_int_equal(info.dtype, LB_NPY_F32);
            assert_int_equal(info.data_offset, n);
        }
}

/* Build "magic + v1 length + text" where text must end with '\n'. */
static size_t make_v1(unsigned char *buf, const char *text) {
    size_t tl = strlen(text);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(tl & 0xff);
    buf[9] = (unsigned char)(tl >> 8);
    memcpy(buf + 10, text, tl);
    return 10 + tl;
}

static labse_status parse_text(const char *text, lb_npy_info *info, labse_error *err) {
    unsigned char buf[1024];
    size_t n = make_v1(buf, text);
    return lb_npy_parse_header(buf, n, "t.npy", info, err);
}

static void test_parse_variants(void **state) {
    (void)state;
    lb_npy_info info;
    labse_error err;
    /* other key orders, double quotes, no trailing comma, 1-D shape, v2 header */
    assert_int_equal(parse_text("{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}\n",
                                &info, &err),
                     LABSE_OK);
    assert_int_equal(info.rows, 2);
    assert_int_equal(info.cols, 3);
    assert_int_equal(parse_text("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (5,), }  \n",
                                &info, &err),
                     LABSE_OK);
    assert_int_equal(info.ndim, 1);
    assert_int_equal(info.rows, 5);
    assert_int_equal(info.cols, 1);
    assert_int_equal(parse_text("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 8), }\n",
                                &info, &err),
                     LABSE_OK);
    assert_int_equal(info.dtype, LB_NPY_F16);
    assert_int_equal(info.rows, 0);
    /* the quantised outputs' element types (io/quant.h) */
    static const struct { const char *descr; lb_npy_dtype dt; size_t size; } q[] = {
        {"<u2", LB_NPY_BF16, 2}, {"|i1", LB_NPY_I8, 1}, {"|u1", LB_NPY_U8, 1}};
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        char h[128];
        snprintf(h, sizeof h, "{'descr': '%s', 'fortran_order': False, 'shape': (4, 8), }\n",
                 q[i].descr);
        assert_int_equal(parse_text(h, &info, &err), LABSE_OK);
        assert_int_equal(info.dtype, q[i].dt);
        assert_int_equal(lb_npy_dtype_size(q[i].dt), q[i].size);
        char hb[LB_NPY_HEADER_MAX];
        size_t hl = lb_npy_header(hb, q[i].dt, 4, 8);
        assert_true(hl > 0 && memcmp(hb + 10, h, strlen(h) - 1) == 0);
    }

    unsigned char v2[128];
    const char *t = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }\n";
    size_t tl = strlen(t);
    memcpy(v2, "\x93NUMPY\x02\x00", 8);
    v2[8] = (unsigned char)tl;
    v2[9] = v2[10] = v2[11] = 0;
    memcpy(v2 + 12, t, tl);
    assert_int_equal(lb_npy_parse_header(v2, 12 + tl, "v2", &info, &err), LABSE_OK);
    assert_int_equal(info.data_offset, 12 + tl);
}

static void test_parse_rejects(void **state) {
    (void)state;
    lb_npy_info info;
    labse_error err;
    static const char *bad[] = {
        "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }\n",  /* big-endian */
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n",  /* float64 */
        "{'descr': '<i2', 'fortran_order': False, 'shape': (2, 3), }\n",  /* int16 */
        "{'descr': '<u1', 'fortran_order': False, 'shape': (2, 3), }\n",  /* numpy: '|u1' */
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999, 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3) }x\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } x\n",
        "{'descr': '<f4', 'shape': (2, 3), }\n",                          /* missing key */
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1, }\n",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3), }\n",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ",      /* no '}' nor '\n' */
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3), }\n",   /* broken quote */
        "('descr', '<f4')\n",
        "\n",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        labse_status s = parse_text(bad[i], &info, &err);
        if (s != LABSE_E_FORMAT) fail_msg("accepted bad header %zu: %s", i, bad[i]);
        assert_true(strstr(err.message, "t.npy") != NULL);
    }
    /* bad magic, bad version, truncated header, header longer than the buffer */
    unsigned char buf[256];
    size_t n = make_v1(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n");
    assert_int_equal(lb_npy_parse_header(buf, n, "ok", &info, &err), LABSE_OK);
    buf[1] = 'X';
    assert_int_equal(lb_npy_parse_header(buf, n, "m", &info, &err), LABSE_E_FORMAT);
    buf[1] = 'N';
    buf[6] = 9;
    assert_int_equal(lb_npy_parse_header(buf, n, "v", &info, &err), LABSE_E_FORMAT);
    buf[6] = 1;
    assert_int_equal(lb_npy_parse_header(buf, n - 1, "short", &info, &err), LABSE_E_FORMAT);
    assert_int_equal(lb_npy_parse_header(buf, 5, "short", &info, &err), LABSE_E_FORMAT);
    assert_int_equal(lb_npy_parse_header(NULL, 5, "null", &info, &err), LABSE_E_INVALID);
    /* shape whose byte size overflows size_t */
    assert_int_equal(
        parse_text("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }\n",
                   &info, &err),
        LABSE_E_FORMAT);
}

/* ---- writer + reader ---------------------------------------------------------------------- */

static void path_in_dir(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", g_dir, name);
}

static void test_write_read(void **state) {
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "a.npy");
    enum { R = 5, C = 3 };
    float data[R * C];
    for (int i = 0; i < R * C; i++) data[i] = (float)i * 0.5f - 3.0f;
    lb_npys *w = NULL;
    labse_error err;
    assert_int_equal(lb_npys_open(path, LB_NPY_F32, R, C, &w, &err), LABSE_OK);
    /* Only the temporary exists while writing. */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    assert_string_equal(lb_npys_tmp_path(w), tmp);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), 0);
    assert_int_equal(lb_npys_append(w, data, 2, &err), LABSE_OK);
    assert_int_equal(lb_npys_append(w, data + 2 * C, 0, &err), LABSE_OK);
    assert_int_equal(lb_npys_append(w, data + 2 * C, 3, &err), LABSE_OK);
    assert_int_equal(lb_npys_rows(w), R);
    char sha[65];
    assert_int_equal(lb_npys_commit(w, sha, &err), LABSE_OK);
    assert_int_equal(strlen(sha), 64);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(dir_entries(), 1);

    /* exact bytes: header + little-endian floats */
    size_t len;
    char *bytes = tf_read_all(path, &len);
    assert_non_null(bytes);
    assert_int_equal(len, 128 + sizeof data);
    char hdr[LB_NPY_HEADER_MAX];
    assert_int_equal(lb_npy_header(hdr, LB_NPY_F32, R, C), 128);
    assert_memory_equal(bytes, hdr, 128);
    assert_memory_equal(bytes + 128, data, sizeof data);
    free(bytes);

    float *back = NULL;
    lb_npy_info info;
    assert_int_equal(lb_npy_read_f32(path, &back, &info, &err), LABSE_OK);
    assert_int_equal(info.rows, R);
    assert_int_equal(info.cols, C);
    assert_memory_equal(back, data, sizeof data);
    free(back);

    /* A zero-row file: header only, reads back as (0, C) with no data. */
    path_in_dir(path, sizeof path, "empty.npy");
    assert_int_equal(lb_npys_open(path, LB_NPY_F32, 0, 768, &w, &err), LABSE_OK);
    assert_int_equal(lb_npys_commit(w, NULL, &err), LABSE_OK);
    back = (float *)1;
    assert_int_equal(lb_npy_read_f32(path, &back, &info, &err), LABSE_OK);
    assert_null(back);
    assert_int_equal(info.rows, 0);
    assert_int_equal(info.cols, 768);
}

/* lb_npys_set_hash: SHA-256 (the default), XXH3-128 or none, with and without a header
 * rewrite (a wrong row hint). Each checksum must equal an independent one of the committed
 * bytes: base/sha256.h for SHA-256, libxxhash's one-shot XXH3_128bits for XXH3-128 (the
 * canonical big-endian hex `xxh128sum` prints); none gives "". A stale hash (the header before
 * its rewrite, or only part of the rows) fails. */
static void test_hash_kinds(void **state) {
    (void)state;
    char path[512];
    labse_error err;
    float rows[5 * 4];
    for (int i = 0; i < 20; i++) rows[i] = (float)i - 7.25f;
    const lb_digest_kind kinds[3] = {LB_DIGEST_SHA256, LB_DIGEST_XXH128, LB_DIGEST_NONE};
    for (int v = 0; v < 6; v++) { /* kind v % 3; v >= 3: the hint is wrong (rewrite) */
        path_in_dir(path, sizeof path, "hash.npy");
        lb_npys *w = NULL;
        assert_int_equal(lb_npys_open(path, LB_NPY_F32, v >= 3 ? 9 : 5, 4, &w, &err), LABSE_OK);
        if (v % 3) assert_int_equal(lb_npys_set_hash(w, kinds[v % 3]), 0);
        assert_int_equal(lb_npys_append(w, rows, 2, &err), LABSE_OK);
        assert_int_equal(lb_npys_append(w, rows + 8, 3, &err), LABSE_OK);
        char hex[65] = "x", want[65] = "";
        assert_int_equal(lb_npys_commit(w, hex, &err), LABSE_OK);
        size_t len;
        char *b = tf_read_all(path, &len);
        assert_non_null(b);
        if (kinds[v % 3] == LB_DIGEST_SHA256) {
            tf_sha256_hex(b, len, want);
        } else if (kinds[v % 3] == LB_DIGEST_XXH128) {
            XXH128_hash_t h = XXH3_128bits(b, len);
            snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)h.high64,
                     (unsigned long long)h.low64);
        }
        assert_string_equal(hex, want);
        free(b);
        assert_int_equal(unlink(path), 0);
    }
}

/* The row count is a hint: fewer or more rows than announced rewrite the header in place
 * (same length) at commit, and the checksum covers the final bytes. */
static void test_rows_hint(void **state) {
    (void)state;
    char path[512];
    labse_error err;
    lb_npys *w = NULL;
    float rows[3 * 4];
    for (int i = 0; i < 12; i++) rows[i] = (float)i;
    const uint64_t hints[2] = {2, 1000000};
    for (int t = 0; t < 2; t++) {
        path_in_dir(path, sizeof path, t ? "fewer.npy" : "more.npy");
        assert_int_equal(lb_npys_open(path, LB_NPY_F32, hints[t], 4, &w, &err), LABSE_OK);
        assert_int_equal(lb_npys_append(w, rows, 3, &err), LABSE_OK);
        char sha[65];
        assert_int_equal(lb_npys_commit(w, sha, &err), LABSE_OK);
        size_t len;
        char *b = tf_read_all(path, &len);
        char hdr[LB_NPY_HEADER_MAX];
        size_t hl = lb_npy_header(hdr, LB_NPY_F32, 3, 4);
        assert_int_equal(len, hl + sizeof rows);
        assert_memory_equal(b, hdr, hl);
        assert_memory_equal(b + hl, rows, sizeof rows);
        free(b);
    }
    assert_int_equal(dir_entries(), 2);
}

static void test_writer_failures(void **state) {
    (void)state;
    char path[512], old[512];
    labse_error err;
    lb_npys *w = NULL;
    float row[4] = {1, 2, 3, 4};

    /* An existing file is replaced only by a complete commit. */
    path_in_dir(old, sizeof old, "keep.npy");
    tf_write_file(old, "OLD", 3);

    /* abort: temp removed, old file intact */
    assert_int_equal(lb_npys_open(old, LB_NPY_F32, 2, 4, &w, &err), LABSE_OK);
    assert_int_equal(lb_npys_append(w, row, 1, &err), LABSE_OK);
    assert_int_equal(dir_entries(), 2); /* keep.npy + the temporary */
    lb_npys_abort(w);
    assert_int_equal(dir_entries(), 1);
    size_t len;
    char *b = tf_read_all(old, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(b, "OLD", 3);
    free(b);
    lb_npys_abort(NULL);

    /* nonexistent directory */
    path_in_dir(path, sizeof path, "no/such/dir/x.npy");
    w = NULL;
    assert_int_equal(lb_npys_open(path, LB_NPY_F32, 1, 4, &w, &err), LABSE_E_IO);
    assert_null(w);
    assert_true(strstr(err.message, "no/such/dir/x.npy.tmp.") != NULL);
    assert_true(strstr(err.message, strerror(ENOENT)) != NULL);

    /* rename fails: the target is a directory */
    path_in_dir(path, sizeof path, "isdir.npy");
    assert_int_equal(mkdir(path, 0755), 0);
    assert_int_equal(lb_npys_open(path, LB_NPY_F32, 1, 4, &w, &err), LABSE_OK);
    assert_int_equal(lb_npys_append(w, row, 1, &err), LABSE_OK);
    assert_int_equal(lb_npys_commit(w, NULL, &err), LABSE_E_IO);
    assert_true(strstr(err.message, "rename") != NULL);
    assert_int_equal(dir_entries(), 2); /* keep.npy + the directory, no temp */
    assert_int_equal(rmdir(path), 0);

    /* write error (file size limit → EFBIG, like a full disk): temp removed, old kept */
    struct rlimit saved, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = saved;
    lim.rlim_cur = 4096;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum { N = 1000 };
    float *many = calloc(N * 4, sizeof *many);
    assert_non_null(many);
    assert_int_equal(lb_npys_open(old, LB_NPY_F32, N, 4, &w, &err), LABSE_OK);
    labse_status s = lb_npys_append(w, many, N, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(s, LABSE_E_IO);
    assert_true(strstr(err.message, "write failed") != NULL);
    assert_int_equal(lb_npys_append(w, row, 1, &err), LABSE_E_IO); /* stays failed */
    assert_true(strstr(err.message, "earlier write failed") != NULL);
    assert_int_equal(lb_npys_commit(w, NULL, &err), LABSE_E_IO); /* also frees + removes */
    free(many);
    assert_int_equal(dir_entries(), 1);
    b = tf_read_all(old, &len);
    assert_int_equal(len, 3);
    free(b);

    /* bad arguments */
    assert_int_equal(lb_npys_open(NULL, LB_NPY_F32, 1, 1, &w, &err), LABSE_E_INVALID);
    assert_int_equal(lb_npys_open(old, (lb_npy_dtype)9, 1, 1, &w, &err), LABSE_E_INVALID);
    assert_int_equal(lb_npys_open(old, LB_NPY_F32, UINT64_MAX, 2, &w, &err), LABSE_E_INVALID);
    assert_int_equal(dir_entries(), 1);
}

static void test_f16_writer(void **state) {
    (void)state;
    char path[512];
    path_in_dir(path, sizeof path, "h.npy");
    uint16_t h[6] = {0x3c00, 0xc000, 0, 0x7bff, 1, 0x8000};
    lb_npys *w;
    labse_error err;
    /* raw half rows (merge), then float32 rows converted (the pipeline) */
    assert_int_equal(lb_npys_open(path, LB_NPY_F16, 4, 3, &w, &err), LABSE_OK);
    assert_int_equal(lb_npys_append_raw(w, h, 2, &err), LABSE_OK);
    const float f32[6] = {1.0f, -2.0f, 0.0f, 65504.0f, 5.9604645e-8f, -0.0f};
    assert_int_equal(lb_npys_append(w, f32, 2, &err), LABSE_OK);
    assert_int_equal(lb_npys_commit(w, NULL, &err), LABSE_OK);
    size_t len;
    char *b = tf_read_all(path, &len);
    assert_int_equal(len, 128 + 2 * sizeof h);
    lb_npy_info info;
    assert_int_equal(lb_npy_parse_header(b, len, path, &info, &err), LABSE_OK);
    assert_int_equal(info.dtype, LB_NPY_F16);
    assert_int_equal(info.rows, 4);
    assert_memory_equal(b + 128, h, sizeof h);
    assert_memory_equal(b + 128 + sizeof h, h, sizeof h);
    free(b);
    float *f = NULL;
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_UNSUPPORTED);
    assert_null(f);
}

/* The atomic layer under every writer: append + header rewrite, commit, abort. */
static void test_atomic_file(void **state) {
    (void)state;
    char path[512];
    labse_error err;
    lb_afile *f = NULL;
    path_in_dir(path, sizeof path, "t.txt");
    assert_int_equal(lb_afile_open(path, &f, &err), LABSE_OK);
    assert_string_equal(lb_afile_path(f), path);
    assert_int_equal(access(lb_afile_tmp_path(f), F_OK), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(lb_afile_write(f, "hello world", 11, &err), LABSE_OK);
    assert_int_equal(lb_afile_pwrite(f, "J", 1, 0, &err), LABSE_OK);
    assert_int_equal(lb_afile_write(f, "!", 1, &err), LABSE_OK);
    char back[16];
    assert_int_equal(lb_afile_pread(f, back, sizeof back, 0), 12);
    assert_memory_equal(back, "Jello world!", 12);
    assert_int_equal(lb_afile_commit(f, &err), LABSE_OK);
    size_t len;
    char *b = tf_read_all(path, &len);
    assert_int_equal(len, 12);
    assert_memory_equal(b, "Jello world!", 12);
    free(b);
    assert_int_equal(dir_entries(), 1);
    /* abort: the old file stays, no temporary */
    assert_int_equal(lb_afile_open(path, &f, &err), LABSE_OK);
    assert_int_equal(lb_afile_write(f, "x", 1, &err), LABSE_OK);
    lb_afile_abort(f);
    lb_afile_abort(NULL);
    b = tf_read_all(path, &len);
    assert_int_equal(len, 12);
    free(b);
    assert_int_equal(dir_entries(), 1);
    /* errors name the file */
    path_in_dir(path, sizeof path, "none/t.txt");
    assert_int_equal(lb_afile_open(path, &f, &err), LABSE_E_IO);
    assert_true(strstr(err.message, "none/t.txt.tmp.") != NULL);
    assert_int_equal(lb_afile_open("", &f, &err), LABSE_E_INVALID);
}

/* lb_afile_writev: many buffers (past the 1024 of one system call), empty ones among them,
 * give the bytes of lb_afile_write of each in turn. */
static void test_atomic_writev(void **state) {
    (void)state;
    char path[512];
    labse_error err;
    lb_afile *f = NULL;
    path_in_dir(path, sizeof path, "v.bin");
    enum { N = 2500 };
    static unsigned char src[N * 7];
    static struct iovec v[N];
    size_t at = 0;
    for (int i = 0; i < N; i++) {
        size_t len = (size_t)(i % 7); /* 0..6 bytes: every 7th buffer is empty */
        for (size_t k = 0; k < len; k++) src[at + k] = (unsigned char)(i * 31 + k);
        v[i].iov_base = src + at;
        v[i].iov_len = len;
        at += len;
    }
    assert_int_equal(lb_afile_open(path, &f, &err), LABSE_OK);
    assert_int_equal(lb_afile_write(f, "<", 1, &err), LABSE_OK);
    assert_int_equal(lb_afile_writev(f, v, N, &err), LABSE_OK);
    assert_int_equal(lb_afile_writev(f, v, 0, &err), LABSE_OK);
    assert_int_equal(lb_afile_write(f, ">", 1, &err), LABSE_OK);
    assert_int_equal(lb_afile_commit(f, &err), LABSE_OK);
    size_t len;
    unsigned char *b = (unsigned char *)tf_read_all(path, &len);
    assert_int_equal(len, at + 2);
    assert_int_equal(b[0], '<');
    assert_memory_equal(b + 1, src, at);
    assert_int_equal(b[at + 1], '>');
    free(b);
}

/* lb_npys_append_gather (the pipeline's writer: rows where the encoder left them, written in
 * input order) gives, in every format, the bytes and the checksum of lb_npys_append_q of the
 * rows put in that order first; across its 256-row chunks and with repeated rows. */
static void test_gather_writer(void **state) {
    (void)state;
    enum { N = 700, DIM = 16 };
    float *base = malloc(N * DIM * sizeof *base), *ordered = malloc(N * DIM * sizeof *ordered);
    uint32_t *pos = malloc(N * sizeof *pos);
    assert_non_null(base);
    assert_non_null(ordered);
    assert_non_null(pos);
    uint32_t x = 12345;
    for (size_t i = 0; i < (size_t)N * DIM; i++) {
        x = x * 1664525u + 1013904223u;
        base[i] = ((float)(x >> 8) / 16777216.0f - 0.5f) * 3.0f;
    }
    for (uint32_t i = 0; i < N; i++) pos[i] = (i * 397u + 11u) % N; /* a permutation */
    pos[5] = pos[6];                                                 /* and a repeated row */
    for (size_t i = 0; i < N; i++)
        memcpy(ordered + i * DIM, base + (size_t)pos[i] * DIM, DIM * sizeof *base);
    lb_qcalib cal;
    labse_error err;
    assert_int_equal(lb_qcalib_from_rows(base, N, DIM, "test", &cal, &err), LABSE_OK);
    for (int f = 0; f < LB_Q_COUNT; f++) {
        char pa[512], pb[512];
        char ha[65], hb[65];
        path_in_dir(pa, sizeof pa, "gather.npy");
        path_in_dir(pb, sizeof pb, "copy.npy");
        lb_npys *wa, *wb;
        const lb_qformat q = (lb_qformat)f;
        assert_int_equal(lb_npys_open(pa, lb_qformat_npy(q), N, lb_qformat_cols(q, DIM), &wa, &err), LABSE_OK);
        assert_int_equal(lb_npys_open(pb, lb_qformat_npy(q), N, lb_qformat_cols(q, DIM), &wb, &err), LABSE_OK);
        assert_int_equal(lb_npys_set_hash(wa, LB_DIGEST_XXH128), 0);
        assert_int_equal(lb_npys_set_hash(wb, LB_DIGEST_XXH128), 0);
        /* two calls, so that a call starts mid-way */
        assert_int_equal(lb_npys_append_gather(wa, f, &cal, base, pos, 300, DIM, &err), LABSE_OK);
        assert_int_equal(lb_npys_append_gather(wa, f, &cal, base, pos + 300, N - 300, DIM, &err), LABSE_OK);
        assert_int_equal(lb_npys_append_q(wb, f, &cal, ordered, N, DIM, &err), LABSE_OK);
        assert_int_equal(lb_npys_rows(wa), N);
        assert_int_equal(lb_npys_commit(wa, ha, &err), LABSE_OK);
        assert_int_equal(lb_npys_commit(wb, hb, &err), LABSE_OK);
        assert_string_equal(ha, hb);
        size_t la, lb;
        char *a = tf_read_all(pa, &la), *b = tf_read_all(pb, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        free(a);
        free(b);
        /* a format that does not fit the file is refused */
        if (f == LB_Q_F16) {
            assert_int_equal(lb_npys_open(pa, LB_NPY_F16, N, DIM, &wa, &err), LABSE_OK);
            assert_int_equal(lb_npys_append_gather(wa, LB_Q_F32, NULL, base, pos, 1, DIM, &err),
                             LABSE_E_INVALID);
            lb_npys_abort(wa);
        }
    }
    lb_qcalib_free(&cal);
    free(base);
    free(ordered);
    free(pos);
}

static void test_reader_rejects_sizes(void **state) {
    (void)state;
    char path[512];
    labse_error err;
    float *f = NULL;
    char buf[128 + 4 * 7];
    size_t hl = lb_npy_header(buf, LB_NPY_F32, 2, 3);
    memset(buf + hl, 0, sizeof buf - hl);

    path_in_dir(path, sizeof path, "short.npy");
    tf_write_file(path, buf, hl + 4 * 5); /* one float missing */
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_FORMAT);
    assert_true(strstr(err.message, "short.npy") != NULL);

    path_in_dir(path, sizeof path, "long.npy");
    tf_write_file(path, buf, hl + 4 * 7); /* one float too many */
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_FORMAT);

    path_in_dir(path, sizeof path, "tiny.npy");
    tf_write_file(path, buf, 5);
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_FORMAT);

    path_in_dir(path, sizeof path, "hdr.npy");
    tf_write_file(path, buf, 60); /* header cut */
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_FORMAT);

    path_in_dir(path, sizeof path, "missing.npy");
    assert_int_equal(lb_npy_read_f32(path, &f, NULL, &err), LABSE_E_IO);
    assert_true(strstr(err.message, "missing.npy") != NULL);
    assert_null(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_bytes),
        cmocka_unit_test(test_header_roundtrip),
        cmocka_unit_test(test_parse_variants),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test_setup_teardown(test_write_read, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_rows_hint, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_hash_kinds, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_atomic_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_atomic_writev, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_gather_writer, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_writer_failures, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_f16_writer, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_reader_rejects_sizes, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
