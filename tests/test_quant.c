/* test_quant.c — io/quant.h, the output formats of `labse encode --format` (issue 12 §5), on
 * the cases the end-to-end test (test_output_formats.sh, numpy on real rows) does not reach:
 * a dim that is not a multiple of 8 refused with a clear message; int8 saturation outside the
 * ranges, a constant dimension (step 0), truncation toward zero; float16 ranges computing their
 * steps in float16 as numpy does; sign bits of -0, NaN, inf; bfloat16 rounding ties to even
 * and NaN; the ranges of rows and of float16/float32 .npy files (and their refusals); the
 * manifest's "calibration" read back bit for bit. Label: unit. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/half.h"
#include "io/manifest.h"
#include "io/npy.h"
#include "io/quant.h"

static char g_dir[256];

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/labse_test_quant.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char p[512];
    static const char *const names[] = {"c.npy", "manifest.json"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    return rmdir(g_dir);
}

static void test_formats(void **state) {
    (void)state;
    labse_error e;
    for (int f = 0; f < LB_Q_COUNT; f++) {
        lb_qformat g;
        assert_true(lb_qformat_parse(lb_qformat_name((lb_qformat)f), &g));
        assert_int_equal(g, f);
        assert_int_equal(lb_qformat_check((lb_qformat)f, 768, &e), LABSE_OK);
    }
    assert_false(lb_qformat_parse("float64", &(lb_qformat){0}));
    assert_int_equal(lb_qformat_cols(LB_Q_UBINARY, 768), 96);
    assert_int_equal(lb_qformat_cols(LB_Q_INT8, 768), 768);
    assert_int_equal(lb_qformat_check(LB_Q_BINARY, 12, &e), LABSE_E_INVALID);
    assert_non_null(strstr(e.message, "dim 12 is not a multiple of 8"));
    assert_int_equal(lb_qformat_check(LB_Q_INT8, 12, &e), LABSE_OK);
    assert_int_equal(lb_qformat_check((lb_qformat)6, 8, &e), LABSE_E_INVALID);
}

/* int8 of x[n] in one dimension with ranges lo..hi (float32 or float16 rule). */
static void int8_of(const float *x, size_t n, float lo, float hi, int f16, int8_t *q) {
    lb_qcalib c = {.dim = 1, .lo = &lo, .hi = &hi, .f16 = f16};
    lb_quant_rows(LB_Q_INT8, &c, x, n, 1, q);
}

static void test_int8(void **state) {
    (void)state;
    /* lo 0, hi 255: step 1 exactly, so x = 1.5 is 1.5 - 128 = -126.5 -> trunc -> -126;
     * x below lo saturates at -128, above hi at 127; hi itself is 255 - 128 = 127 */
    const float x[] = {0.0f, 1.5f, 128.0f, 255.0f, -5.0f, 300.0f, 127.5f};
    int8_t q[7];
    int8_of(x, 7, 0.0f, 255.0f, 0, q);
    assert_int_equal(q[0], -128);
    assert_int_equal(q[1], -126);
    assert_int_equal(q[2], 0);
    assert_int_equal(q[3], 127);
    assert_int_equal(q[4], -128);
    assert_int_equal(q[5], 127);
    /* 127.5 - 128 = -0.5: truncation toward zero gives 0, not -1 */
    assert_int_equal(q[6], 0);
    /* a constant dimension: step 0; at or below lo -128, above it 127 */
    const float y[] = {0.5f, 0.25f, 0.75f};
    int8_of(y, 3, 0.5f, 0.5f, 0, q);
    assert_int_equal(q[0], -128);
    assert_int_equal(q[1], -128);
    assert_int_equal(q[2], 127);
    /* float16 ranges: the step is rounded to float16 as numpy computes it, which moves
     * buckets: lo, hi float16 values; some x lands in another bucket than with a float32
     * step (the exact rule: trunc((x - lo) / step16 - 128), step16 = f16(f16(hi-lo)/255)) */
    float lo = lb_f16_to_f32(lb_f32_to_f16(-0.3f)), hi = lb_f16_to_f32(lb_f32_to_f16(0.7f));
    float step16 = lb_f16_to_f32(lb_f32_to_f16(lb_f16_to_f32(lb_f32_to_f16(hi - lo)) / 255.0f));
    assert_true(step16 != (hi - lo) / 255.0f);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        float v = lo + (hi - lo) * (float)i / 1000.0f;
        int8_t a, b;
        int8_of(&v, 1, lo, hi, 1, &a);
        int8_of(&v, 1, lo, hi, 0, &b);
        float t = (v - lo) / step16 - 128.0f;
        int8_t want = t >= 127.0f ? 127 : !(t > -128.0f) ? -128 : (int8_t)t;
        assert_int_equal(a, want);
        differ += a != b;
    }
    assert_true(differ > 0);
}

static void test_bits(void **state) {
    (void)state;
    /* 16 values: bit 7 of byte 0 is x[0] > 0; -0, NaN and -inf are not > 0, +inf is */
    const float x[16] = {1, -0.0f, NAN, INFINITY, -INFINITY, 0, 1e-30f, -1e-30f,
                         0, 0, 0, 0, 0, 0, 0, 2};
    unsigned char u[2], b[2];
    lb_quant_rows(LB_Q_UBINARY, NULL, x, 1, 16, u);
    lb_quant_rows(LB_Q_BINARY, NULL, x, 1, 16, b);
    assert_int_equal(u[0], 0x80 | 0x10 | 0x02);
    assert_int_equal(u[1], 0x01);
    assert_int_equal((int8_t)b[0], (int)u[0] - 128);
    assert_int_equal((int8_t)b[1], (int)u[1] - 128);
    /* bfloat16: ties to even, NaN stays NaN */
    const float h[] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, 1.0f + 0x1p-9f, NAN, -2.5f};
    uint16_t o[5];
    lb_quant_rows(LB_Q_BF16, NULL, h, 1, 5, o);
    assert_int_equal(o[0], 0x3f80); /* exactly half way, even below */
    assert_int_equal(o[1], 0x3f82); /* half way, even above */
    assert_int_equal(o[2], 0x3f80); /* below half */
    assert_true((o[3] & 0x7f80) == 0x7f80 && (o[3] & 0x7f) != 0);
    assert_int_equal(o[4], 0xc020);
}

/* A version 1.0 .npy of rows x cols elements of descr (es bytes each) at g_dir/c.npy. */
static void write_npy(const char *descr, const void *data, size_t rows, size_t cols, size_t es) {
    char path[512], hdr[LB_NPY_HEADER_MAX];
    snprintf(path, sizeof path, "%s/c.npy", g_dir);
    lb_npy_dtype dt = strcmp(descr, "<f2") == 0 ? LB_NPY_F16 : LB_NPY_F32;
    size_t hl = lb_npy_header(hdr, dt, rows, cols);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(hdr, 1, hl, f);
    fwrite(data, es, rows * cols, f);
    fclose(f);
}

static void test_calibration(void **state) {
    (void)state;
    labse_error e;
    lb_qcalib c, d;
    const float x[] = {1, -2, 3, 0.5f, -1, 7}; /* 3 rows of dim 2 */
    assert_int_equal(lb_qcalib_from_rows(x, 3, 2, "rows", &c, &e), LABSE_OK);
    assert_true(c.lo[0] == -1 && c.hi[0] == 3 && c.lo[1] == -2 && c.hi[1] == 7 && c.rows == 3);
    char path[512];
    snprintf(path, sizeof path, "%s/c.npy", g_dir);
    write_npy("<f4", x, 3, 2, 4);
    assert_int_equal(lb_qcalib_load(path, 2, &d, &e), LABSE_OK);
    assert_true(lb_qcalib_same(&c, &d) && !d.f16 && d.rows == 3);
    assert_string_equal(d.source, path);
    lb_qcalib_free(&d);
    uint16_t h[6];
    for (int i = 0; i < 6; i++) h[i] = lb_f32_to_f16(x[i]);
    write_npy("<f2", h, 3, 2, 2);
    assert_int_equal(lb_qcalib_load(path, 2, &d, &e), LABSE_OK);
    assert_true(d.f16 && !lb_qcalib_same(&c, &d)); /* same values, other step rule */
    d.f16 = 0;
    assert_true(lb_qcalib_same(&c, &d));
    lb_qcalib_free(&d);
    /* refusals: another dim, a non-finite value, no rows */
    assert_int_equal(lb_qcalib_load(path, 3, &d, &e), LABSE_E_INVALID);
    assert_non_null(strstr(e.message, "c.npy"));
    const float bad[] = {1, NAN};
    write_npy("<f4", bad, 1, 2, 4);
    assert_int_equal(lb_qcalib_load(path, 2, &d, &e), LABSE_E_INVALID);
    write_npy("<f4", bad, 0, 2, 4);
    assert_int_equal(lb_qcalib_load(path, 2, &d, &e), LABSE_E_INVALID);
    assert_int_equal(lb_qcalib_from_rows(bad, 1, 2, NULL, &d, &e), LABSE_E_INVALID);

    /* the manifest keeps the ranges bit for bit (awkward floats included) */
    c.lo[0] = 9e-39f; /* subnormal */
    c.hi[0] = 0.1f;
    c.lo[1] = -3.4028235e38f;
    c.hi[1] = -0.0f;
    lb_manifest m;
    memset(&m, 0, sizeof m);
    m.format = 1;
    m.dim = 2;
    m.qformat = LB_Q_INT8;
    m.dtype = LB_NPY_I8;
    m.model = strdup("x");
    m.input_path = strdup("in");
    assert_int_equal(lb_qcalib_copy(&m.calib, &c), 0);
    assert_int_equal(lb_manifest_write(g_dir, &m, &e), LABSE_OK);
    lb_manifest r;
    assert_int_equal(lb_manifest_read(g_dir, &r, NULL, &e), LABSE_OK);
    assert_int_equal(r.qformat, LB_Q_INT8);
    assert_int_equal(r.dtype, LB_NPY_I8);
    assert_true(lb_qcalib_same(&r.calib, &c));
    assert_string_equal(r.calib.source, "rows");
    lb_manifest_free(&r);
    lb_manifest_free(&m);
    lb_qcalib_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_calibration),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
