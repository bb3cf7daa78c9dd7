/* test_safetensors.c — the safetensors reader against hostile and good files.
 *
 * Every broken file must be refused with LABSE_E_FORMAT, a NULL handle, and a message that
 * names the file and the fault. Good files in F32 / F16 / BF16 (aligned and unaligned) must
 * convert exactly. Files are written to a fresh temporary folder, removed at the end. */
#include <fcntl.h>
#include <ftw.h>
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

#include "model/safetensors.h"

static char g_dir[256];

/* ---- writing files ---- */

static const char *tpath(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* [u64 hlen][header][data]; hlen = strlen(header) unless hlen_override != UINT64_MAX. */
static const char *write_st_len(const char *name, const char *header, const void *data,
                                size_t dlen, uint64_t hlen_override) {
    const char *p = tpath(name);
    size_t hl = strlen(header);
    uint64_t h = hlen_override != UINT64_MAX ? hlen_override : hl;
    uint8_t *buf = malloc(8 + hl + dlen + 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(h >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (dlen) memcpy(buf + 8 + hl, data, dlen);
    write_bytes(p, buf, 8 + hl + dlen);
    free(buf);
    return p;
}

static const char *write_st(const char *name, const char *header, const void *data,
                            size_t dlen) {
    return write_st_len(name, header, data, dlen, UINT64_MAX);
}

/* The file at path must be refused with status `want` and a message containing the path and
 * every one of the NULL-terminated substrings. */
static void expect_refused(const char *path, labse_status want, ...) {
    lb_safetensors *st = (lb_safetensors *)(uintptr_t)1;
    labse_error err;
    labse_status s = lb_st_open(path, &st, &err);
    if (s != want || !strstr(err.message, path)) print_error("message: %s\n", err.message);
    assert_int_equal(s, want);
    assert_int_equal(err.status, want);
    assert_null(st);
    assert_non_null(strstr(err.message, path));
    va_list ap;
    va_start(ap, want);
    for (const char *sub; (sub = va_arg(ap, const char *));) {
        if (!strstr(err.message, sub)) print_error("message: %s\nwanted: %s\n", err.message, sub);
        assert_non_null(strstr(err.message, sub));
    }
    va_end(ap);
}

#define REFUSED(path, ...) expect_refused((path), LABSE_E_FORMAT, __VA_ARGS__, (const char *)NULL)

static const uint8_t zeros[64];

/* ---- hostile files ---- */

static void test_empty_and_truncated(void **state) {
    (void)state;
    write_bytes(tpath("empty.st"), "", 0);
    REFUSED(tpath("empty.st"), "truncated", "0 bytes");
    write_bytes(tpath("short.st"), "\x02\0\0\0\0", 5);
    REFUSED(tpath("short.st"), "truncated", "5 bytes");
}

static void test_missing_file(void **state) {
    (void)state;
    expect_refused(tpath("does-not-exist.st"), LABSE_E_IO, "cannot open", (const char *)NULL);
}

static void test_header_past_end(void **state) {
    (void)state;
    REFUSED(write_st_len("past.st", "{}", NULL, 0, 3), "header length 3", "past the end");
    REFUSED(write_st_len("past2.st", "{}", NULL, 0, 1000), "header length 1000",
            "past the end");
}

static void test_header_huge(void **state) {
    (void)state;
    REFUSED(write_st_len("huge.st", "{}", NULL, 0, (uint64_t)1 << 63), "9223372036854775808",
            "past the end");
    REFUSED(write_st_len("huge2.st", "{}", NULL, 0, UINT64_MAX - 1), "past the end");
}

/* A (sparse) file of 100 MB + a bit whose header length is just over the 100 MB limit. */
static void test_header_over_limit(void **state) {
    (void)state;
    const char *p = tpath("limit.st");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    uint64_t h = 100000001ull;
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)(h >> (8 * i));
    assert_int_equal(write(fd, le, 8), 8);
    assert_int_equal(ftruncate(fd, 100000100), 0);
    close(fd);
    REFUSED(p, "header length 100000001", "exceeds the limit");
    unlink(p);
}

static void test_bad_json(void **state) {
    (void)state;
    REFUSED(write_st("json1.st", "{\"a\": ", NULL, 0), "not valid JSON");
    REFUSED(write_st("json2.st", "{\"a\": {\"dtype\": F32}}", NULL, 0), "not valid JSON");
    REFUSED(write_st("json3.st", "{} trailing", NULL, 0), "not valid JSON", "trailing");
    REFUSED(write_st("json4.st", "", NULL, 0), "not valid JSON");
    /* a NUL inside the header */
    const char *p = tpath("json5.st");
    uint8_t b[8 + 4] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '\0', '}', ' '};
    write_bytes(p, b, sizeof b);
    REFUSED(p, "NUL");
    /* deep nesting must not crash the parser */
    char deep[4096 + 2];
    memset(deep, '[', 4096);
    deep[4096] = '\0';
    REFUSED(write_st("json6.st", deep, NULL, 0), "not valid JSON");
}

static void test_non_object(void **state) {
    (void)state;
    REFUSED(write_st("arr.st", "[1, 2]", NULL, 0), "not an object");
    REFUSED(write_st("num.st", "42", NULL, 0), "not an object");
    REFUSED(write_st("str.st", "\"x\"", NULL, 0), "not an object");
    REFUSED(write_st("entry.st", "{\"a\": 3}", NULL, 0), "\"a\"", "not a JSON object");
}

static void test_bad_dtype(void **state) {
    (void)state;
    REFUSED(write_st("dt1.st", "{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], "
                               "\"data_offsets\": [0, 2]}}",
                     zeros, 2),
            "\"w\"", "unknown dtype \"F8_E4M3\"");
    REFUSED(write_st("dt2.st", "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", zeros, 8),
            "\"w\"", "dtype");
    REFUSED(write_st("dt3.st", "{\"w\": {\"dtype\": 7, \"shape\": [2], "
                               "\"data_offsets\": [0, 8]}}",
                     zeros, 8),
            "dtype");
    REFUSED(write_st("dt4.st", "{\"w\": {\"dtype\": \"f32\", \"shape\": [2], "
                               "\"data_offsets\": [0, 8]}}",
                     zeros, 8),
            "unknown dtype \"f32\"");
}

static void test_bad_shape(void **state) {
    (void)state;
    REFUSED(write_st("neg.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], "
                               "\"data_offsets\": [0, 4]}}",
                     zeros, 4),
            "\"w\"", "shape[0]", "negative");
    REFUSED(write_st("frac.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], "
                                "\"data_offsets\": [0, 12]}}",
                     zeros, 12),
            "shape[1]");
    REFUSED(write_st("strshape.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], "
                                    "\"data_offsets\": [0, 8]}}",
                     zeros, 8),
            "shape[0]");
    REFUSED(write_st("noshape.st", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}",
                     zeros, 8),
            "\"shape\"");
    REFUSED(write_st("bigdim.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e300], "
                                  "\"data_offsets\": [0, 8]}}",
                     zeros, 8),
            "shape[0]", "too large");
}

static void test_ndim_over_8(void **state) {
    (void)state;
    REFUSED(write_st("ndim.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                                "\"data_offsets\": [0, 4]}}",
                     zeros, 4),
            "\"w\"", "ndim 9 exceeds");
    /* exactly 8 is fine */
    lb_safetensors *st = NULL;
    labse_error err;
    const char *p = write_st("ndim8.st",
                             "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1], "
                             "\"data_offsets\": [0, 4]}}",
                             zeros, 4);
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    assert_int_equal(st->tensors[0].ndim, 8);
    lb_st_close(st);
}

static void test_numel_overflow(void **state) {
    (void)state;
    /* 2^32 * 2^32 * 2^32 elements: each factor is a valid integer, the product is not */
    REFUSED(write_st("ovf.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, "
                               "4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
                     zeros, 4),
            "\"w\"", "overflow");
    /* 2^31 * 2^31 = 2^62 elements fit int64 but not 2^62 * 4 bytes */
    REFUSED(write_st("ovf2.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2147483648, "
                                "2147483648], \"data_offsets\": [0, 4]}}",
                     zeros, 4),
            "overflow");
    /* a zero dimension makes numel 0 whatever the others are */
    lb_safetensors *st = NULL;
    labse_error err;
    const char *p = write_st("zero.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, "
                                        "0, 4294967296], \"data_offsets\": [0, 0]}}",
                             zeros, 0);
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    assert_int_equal(st->tensors[0].numel, 0);
    lb_st_close(st);
}

static void test_shape_offset_mismatch(void **state) {
    (void)state;
    REFUSED(write_st("mm1.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], "
                               "\"data_offsets\": [0, 4]}}",
                     zeros, 8),
            "\"w\"", "shape/offset mismatch", "need 8 bytes", "span 4");
    REFUSED(write_st("mm2.st", "{\"w\": {\"dtype\": \"F16\", \"shape\": [2, 3], "
                               "\"data_offsets\": [0, 24]}}",
                     zeros, 24),
            "shape/offset mismatch");
}

static void test_offsets(void **state) {
    (void)state;
    REFUSED(write_st("oor.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], "
                               "\"data_offsets\": [0, 8]}}",
                     zeros, 4),
            "\"w\"", "out of range", "4 bytes");
    REFUSED(write_st("oor2.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                                "\"data_offsets\": [18446744073709551612, 18446744073709551616]}}",
                     zeros, 4),
            "data_offsets");
    REFUSED(write_st("beg.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                               "\"data_offsets\": [8, 4]}}",
                     zeros, 8),
            "\"w\"", "begin 8 > end 4");
    REFUSED(write_st("negoff.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                                  "\"data_offsets\": [-4, 0]}}",
                     zeros, 8),
            "data_offsets");
    REFUSED(write_st("oneoff.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                                  "\"data_offsets\": [0]}}",
                     zeros, 8),
            "data_offsets");
    REFUSED(write_st("threeoff.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], "
                                    "\"data_offsets\": [0, 4, 8]}}",
                     zeros, 8),
            "data_offsets");
    REFUSED(write_st("nooff.st", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", zeros, 8),
            "data_offsets");
}

static void test_overlap(void **state) {
    (void)state;
    REFUSED(write_st("ovl.st",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}, "
                     "\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                     zeros, 12),
            "\"a\"", "\"b\"", "overlap");
    /* b inside a, listed first */
    REFUSED(write_st("ovl2.st",
                     "{\"b\": {\"dtype\": \"F16\", \"shape\": [1], \"data_offsets\": [4, 6]}, "
                     "\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                     zeros, 16),
            "overlap");
    /* a small tensor after a big one that covers it; a third one in between ends earlier */
    REFUSED(write_st("ovl3.st",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}, "
                     "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}, "
                     "\"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]}}",
                     zeros, 16),
            "overlap");
    /* identical ranges */
    REFUSED(write_st("ovl4.st",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                     "\"b\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                     zeros, 4),
            "overlap");
    /* empty tensors at the same offset do not overlap anything */
    lb_safetensors *st = NULL;
    labse_error err;
    const char *p = write_st(
        "noovl.st",
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
        "\"e1\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [2, 2]}, "
        "\"e2\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [2, 2]}, "
        "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
        zeros, 8);
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    assert_int_equal(st->n, 4);
    lb_st_close(st);
}

static void test_duplicate(void **state) {
    (void)state;
    REFUSED(write_st("dup.st",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
                     "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                     zeros, 8),
            "duplicate tensor name \"a\"");
}

/* ---- good files ---- */

static void test_good_f32(void **state) {
    (void)state;
    float v[6] = {1.0f, -2.5f, 3.25f, 1e-38f, -0.0f, 65536.0f};
    float w[2] = {0.125f, -7.0f};
    uint8_t data[32];
    memcpy(data, v, 24);
    memcpy(data + 24, w, 8);
    /* header padded with spaces to a multiple of 8, as the reference writer does */
    const char *hdr = "{\"__metadata__\": {\"format\": \"pt\"}, "
                      "\"b.weight\": {\"dtype\": \"F32\", \"shape\": [2], "
                      "\"data_offsets\": [24, 32]}, "
                      "\"a.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], "
                      "\"data_offsets\": [0, 24]}}";
    char padded[512];
    size_t hl = strlen(hdr);
    memcpy(padded, hdr, hl);
    while (hl % 8) padded[hl++] = ' ';
    padded[hl] = '\0';
    const char *p = write_st("good32.st", padded, data, sizeof data);
    lb_safetensors *st = NULL;
    labse_error err;
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    assert_non_null(st);
    assert_int_equal(st->n, 2);
    assert_string_equal(st->path, p);
    /* sorted by name */
    assert_string_equal(st->tensors[0].name, "a.weight");
    assert_string_equal(st->tensors[1].name, "b.weight");
    const lb_tensor *a = lb_st_find(st, "a.weight"), *b = lb_st_find(st, "b.weight");
    assert_non_null(a);
    assert_non_null(b);
    assert_null(lb_st_find(st, "c.weight"));
    assert_null(lb_st_find(st, "__metadata__"));
    assert_null(lb_st_find(st, ""));
    assert_int_equal(a->dtype, LB_F32);
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[0], 2);
    assert_int_equal(a->shape[1], 3);
    assert_int_equal(a->numel, 6);
    assert_int_equal(a->nbytes, 24);
    assert_ptr_equal(a->data, st->map + 8 + hl);
    assert_ptr_equal(b->data, st->map + 8 + hl + 24);
    float out[6];
    assert_int_equal(lb_tensor_to_f32(a, out, &err), LABSE_OK);
    assert_memory_equal(out, v, sizeof v);
    assert_int_equal(lb_tensor_to_f32(b, out, &err), LABSE_OK);
    assert_memory_equal(out, w, sizeof w);
    lb_st_close(st);
}

static void test_unaligned_f32(void **state) {
    (void)state;
    /* data at an odd offset: the tensor is not 4-byte aligned in the mapping */
    float v[3] = {3.0f, -1.0f / 3.0f, 1e30f};
    uint8_t data[1 + 12];
    data[0] = 0xAB;
    memcpy(data + 1, v, 12);
    const char *p = write_st("unal32.st",
                             "{\"x\": {\"dtype\": \"F32\", \"shape\": [3], "
                             "\"data_offsets\": [1, 13]}}",
                             data, sizeof data);
    lb_safetensors *st = NULL;
    labse_error err;
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    const lb_tensor *t = lb_st_find(st, "x");
    assert_non_null(t);
    assert_true(((uintptr_t)t->data & 3) != 0); /* really unaligned */
    float out[3];
    assert_int_equal(lb_tensor_to_f32(t, out, &err), LABSE_OK);
    assert_memory_equal(out, v, sizeof v);
    lb_st_close(st);
}

static uint32_t fbits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void test_good_f16(void **state) {
    (void)state;
    /* half bits -> expected float bits */
    static const struct {
        uint16_t h;
        uint32_t f;
    } cases[] = {
        {0x0000, 0x00000000}, {0x8000, 0x80000000}, /* +0, -0 */
        {0x3c00, 0x3f800000}, {0xc000, 0xc0000000}, /* 1, -2 */
        {0x7bff, 0x477fe000},                       /* 65504, the largest half */
        {0x0001, 0x33800000},                       /* 2^-24, the smallest subnormal */
        {0x83ff, 0xb87fc000},                       /* -(1023 * 2^-24), largest subnormal */
        {0x0400, 0x38800000},                       /* 2^-14, the smallest normal */
        {0x3555, 0x3eaaa000},                       /* 0.333251953125 */
        {0x7c00, 0x7f800000}, {0xfc00, 0xff800000}, /* +inf, -inf */
        {0x7e00, 0x7fc00000},                       /* quiet NaN */
        {0x7c01, 0x7f802000},                       /* NaN, payload kept */
    };
    enum { N = sizeof cases / sizeof cases[0] };
    uint8_t data[1 + 2 * N];
    data[0] = 0;
    for (int i = 0; i < N; i++) {
        data[1 + 2 * i] = (uint8_t)(cases[i].h & 0xff);
        data[2 + 2 * i] = (uint8_t)(cases[i].h >> 8);
    }
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "{\"h\": {\"dtype\": \"F16\", \"shape\": [%d], \"data_offsets\": [1, %d]}}", N,
             1 + 2 * N);
    const char *p = write_st("good16.st", hdr, data, sizeof data);
    lb_safetensors *st = NULL;
    labse_error err;
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    const lb_tensor *t = lb_st_find(st, "h");
    assert_non_null(t);
    assert_int_equal(t->dtype, LB_F16);
    assert_int_equal(t->nbytes, 2 * N);
    float out[N];
    assert_int_equal(lb_tensor_to_f32(t, out, &err), LABSE_OK);
    for (int i = 0; i < N; i++) {
        if (fbits(out[i]) != cases[i].f)
            print_error("half 0x%04x -> 0x%08x, want 0x%08x\n", cases[i].h, fbits(out[i]),
                        cases[i].f);
        assert_int_equal(fbits(out[i]), cases[i].f);
    }
    lb_st_close(st);
}

/* Every one of the 65536 halves against the compiler's own conversion, when it has one. */
static void test_f16_all(void **state) {
    (void)state;
#if defined(__FLT16_MAX__)
    lb_tensor t = {.name = "all", .dtype = LB_F16, .ndim = 1, .shape = {65536}, .numel = 65536,
                   .nbytes = 131072};
    uint8_t *buf = malloc(131072 + 1);
    float *out = malloc(65536 * sizeof(float));
    assert_non_null(buf);
    assert_non_null(out);
    for (int i = 0; i < 65536; i++) {
        buf[1 + 2 * i] = (uint8_t)(i & 0xff);
        buf[2 + 2 * i] = (uint8_t)(i >> 8);
    }
    t.data = buf + 1;
    labse_error err;
    assert_int_equal(lb_tensor_to_f32(&t, out, &err), LABSE_OK);
    for (int i = 0; i < 65536; i++) {
        uint16_t u = (uint16_t)i;
        _Float16 h;
        memcpy(&h, &u, 2);
        float want = (float)h;
        if (isnan(want)) {
            assert_true(isnan(out[i]));
            assert_int_equal(fbits(out[i]) >> 31, (uint32_t)(i >> 15));
        } else {
            assert_int_equal(fbits(out[i]), fbits(want));
        }
    }
    free(buf);
    free(out);
#else
    skip();
#endif
}

static void test_good_bf16(void **state) {
    (void)state;
    static const uint16_t in[] = {0x3f80, 0xc049, 0x0001, 0x8000, 0x7f80, 0x7fc1, 0x4780};
    enum { N = sizeof in / sizeof in[0] };
    uint8_t data[3 + 2 * N];
    memset(data, 0, 3);
    for (int i = 0; i < N; i++) {
        data[3 + 2 * i] = (uint8_t)(in[i] & 0xff);
        data[4 + 2 * i] = (uint8_t)(in[i] >> 8);
    }
    char hdr[256];
    snprintf(hdr, sizeof hdr,
             "{\"z\": {\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]}, "
             "\"bf\": {\"dtype\": \"BF16\", \"shape\": [1, %d], \"data_offsets\": [3, %d]}}",
             N, 3 + 2 * N);
    const char *p = write_st("goodbf16.st", hdr, data, sizeof data);
    lb_safetensors *st = NULL;
    labse_error err;
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    const lb_tensor *t = lb_st_find(st, "bf");
    assert_non_null(t);
    assert_int_equal(t->dtype, LB_BF16);
    float out[N];
    assert_int_equal(lb_tensor_to_f32(t, out, &err), LABSE_OK);
    for (int i = 0; i < N; i++) assert_int_equal(fbits(out[i]), (uint32_t)in[i] << 16);
    assert_true(out[0] == 1.0f);
    assert_true(out[1] == -3.140625f);
    assert_true(out[6] == 65536.0f);
    /* a U8 tensor cannot be converted */
    const lb_tensor *z = lb_st_find(st, "z");
    assert_non_null(z);
    err.message[0] = '\0';
    assert_int_equal(lb_tensor_to_f32(z, out, &err), LABSE_E_UNSUPPORTED);
    assert_non_null(strstr(err.message, "U8"));
    lb_st_close(st);
}

static void test_scalar_and_empty(void **state) {
    (void)state;
    float one = 1.5f;
    const char *p = write_st("scalar.st",
                             "{\"s\": {\"dtype\": \"F32\", \"shape\": [], "
                             "\"data_offsets\": [0, 4]}, \"__metadata__\": {}}",
                             &one, 4);
    lb_safetensors *st = NULL;
    labse_error err;
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    const lb_tensor *t = lb_st_find(st, "s");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    float out = 0;
    assert_int_equal(lb_tensor_to_f32(t, &out, &err), LABSE_OK);
    assert_true(out == 1.5f);
    lb_st_close(st);
    /* no tensors at all */
    p = write_st("none.st", "{}", NULL, 0);
    assert_int_equal(lb_st_open(p, &st, &err), LABSE_OK);
    assert_int_equal(st->n, 0);
    assert_null(lb_st_find(st, "x"));
    lb_st_close(st);
    lb_st_close(NULL);
}

static void test_dtype_names(void **state) {
    (void)state;
    assert_string_equal(lb_dtype_name(LB_F32), "F32");
    assert_string_equal(lb_dtype_name(LB_BF16), "BF16");
    assert_int_equal(lb_dtype_size(LB_F32), 4);
    assert_int_equal(lb_dtype_size(LB_F16), 2);
    assert_int_equal(lb_dtype_size(LB_BF16), 2);
    assert_int_equal(lb_dtype_size(LB_I64), 8);
    assert_int_equal(lb_dtype_size(LB_BOOL), 1);
}

/* Random mutations of a good file (header bytes, length prefix, truncation): each result is
 * either refused with LABSE_E_FORMAT or accepted with every tensor inside the data section.
 * Deterministic (fixed seed); under ASan/UBSan this is the "never out of bounds" check. */
static uint32_t rng_state = 12345u;
static uint32_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void test_mutations(void **state) {
    (void)state;
    const char *hdr = "{\"__metadata__\": {\"format\": \"pt\"}, "
                      "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}, "
                      "\"b\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [24, 32]}, "
                      "\"c\": {\"dtype\": \"BF16\", \"shape\": [1, 1, 2], "
                      "\"data_offsets\": [32, 36]}}";
    static const char alphabet[] = "{}[],:\" 0123456789-.eE\\abcdtFBI";
    size_t hl = strlen(hdr), total = 8 + hl + 36;
    uint8_t *good = malloc(total), *buf = malloc(total);
    assert_non_null(good);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++) good[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(good + 8, hdr, hl);
    for (size_t i = 0; i < 36; i++) good[8 + hl + i] = (uint8_t)(i * 37);
    const char *p = tpath("mut.st");
    int accepted = 0, refused = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, good, total);
        size_t len = total;
        int nmut = 1 + (int)(rng() % 4);
        for (int k = 0; k < nmut; k++) {
            uint32_t r = rng();
            switch (r % 5) {
            case 0: buf[rng() % len] = (uint8_t)rng(); break;                 /* any byte */
            case 1: buf[8 + rng() % hl] = (uint8_t)alphabet[rng() % (sizeof alphabet - 1)];
                    break;                                                    /* JSON-ish */
            case 2: buf[rng() % 8] = (uint8_t)rng(); break;                   /* length */
            case 3: len = rng() % (len + 1); break;                           /* truncate */
            default: buf[8 + rng() % hl] = (uint8_t)('0' + rng() % 10); break; /* digits */
            }
            if (len < 9) break;
        }
        write_bytes(p, buf, len);
        lb_safetensors *st = NULL;
        labse_error err;
        labse_status s = lb_st_open(p, &st, &err);
        if (s != LABSE_OK) {
            if (s != LABSE_E_FORMAT) print_error("status %d: %s\n", s, err.message);
            assert_int_equal(s, LABSE_E_FORMAT);
            assert_null(st);
            refused++;
            continue;
        }
        accepted++;
        uint64_t h = 0;
        for (int i = 7; i >= 0; i--) h = (h << 8) | st->map[i];
        const uint8_t *lo = st->map + 8 + h, *hi = st->map + st->size;
        for (int i = 0; i < st->n; i++) {
            const lb_tensor *t = &st->tensors[i];
            assert_true((const uint8_t *)t->data >= lo);
            assert_true(t->nbytes <= (size_t)(hi - (const uint8_t *)t->data));
            assert_int_equal((uint64_t)t->numel * lb_dtype_size(t->dtype), t->nbytes);
            if (t->dtype == LB_F32 || t->dtype == LB_F16 || t->dtype == LB_BF16) {
                float *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof(float));
                assert_non_null(out);
                assert_int_equal(lb_tensor_to_f32(t, out, &err), LABSE_OK);
                free(out);
            }
        }
        lb_st_close(st);
    }
    assert_true(accepted > 0);
    assert_true(refused > 0);
    free(good);
    free(buf);
}

/* ---- fixture ---- */

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int setup(void **state) {
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/labse_st_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    return nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_truncated),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_header_past_end),
        cmocka_unit_test(test_header_huge),
        cmocka_unit_test(test_header_over_limit),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_non_object),
        cmocka_unit_test(test_bad_dtype),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_ndim_over_8),
        cmocka_unit_test(test_numel_overflow),
        cmocka_unit_test(test_shape_offset_mismatch),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_duplicate),
        cmocka_unit_test(test_good_f32),
        cmocka_unit_test(test_unaligned_f32),
        cmocka_unit_test(test_good_f16),
        cmocka_unit_test(test_f16_all),
        cmocka_unit_test(test_good_bf16),
        cmocka_unit_test(test_scalar_and_empty),
        cmocka_unit_test(test_dtype_names),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests_name("safetensors", tests, setup, teardown);
}
