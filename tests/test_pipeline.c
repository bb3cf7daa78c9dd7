/* test_pipeline.c — unit tests of the pipeline pieces (no model needed except where noted):
 * sha256 against FIPS vectors, float16 against a reference in double arithmetic (and the
 * compiler's _Float16 where it has one; round to nearest even) over a dense sweep of bit
 * patterns plus known values, the line reader's rules (same lines as lines.h, the over-long
 * line cap, the offset after it), bucketing and batch cutting, the shard
 * rule (shards partition the lines, aligned to parts; a gzip or zstd copy of the file is
 * cut at the same decompressed offsets, and hashes its ranges as the plain file), manifest
 * round trip, and the
 * tokenizer pool on tests/data/tiny-bert (ids equal labse_tokenize, in order). */
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
#include <zlib.h>
#include <zstd.h>

#include "test_files.h"

#include "io/lines.h"
#include "pipeline/pipe_internal.h"
#include "base/sha256.h"

static char g_tmp[256];

static int setup(void **st) {
    (void)st;
    snprintf(g_tmp, sizeof g_tmp, "%s/labse_tp.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(g_tmp) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* ------------------------------------------------------------------------------------------ */

static void test_sha256_vectors(void **st) {
    (void)st;
    char h[65];
    tf_sha256_hex("", 0, h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    tf_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    tf_sha256_hex(m, strlen(m), h);
    assert_string_equal(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* one million 'a', fed in odd-sized pieces */
    lb_sha256 c;
    lb_sha256_init(&c);
    char a[1000];
    memset(a, 'a', sizeof a);
    size_t left = 1000000, k = 1;
    while (left) {
        size_t n = k % 997 + 1;
        if (n > left) n = left;
        lb_sha256_update(&c, a, n);
        left -= n;
        k += 31;
    }
    uint8_t dg[32];
    lb_sha256_final(&c, dg);
    lb_sha256_hex(dg, h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}


/* The two compression paths (sha256.h) agree on 1..40 blocks of pseudo-random bytes from
 * several states; skipped (printed) on a CPU without SHA-NI, where only the portable one runs
 * (and test_sha256_vectors covers it). */
static void test_sha256_paths(void **st) {
    (void)st;
    if (!lb_sha256_have_shani()) {
        print_message("no SHA-NI on this CPU: only the portable path exists here\n");
        return;
    }
    uint8_t buf[64 * 40];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    uint32_t a[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}, b[8];
    for (size_t n = 1; n <= 40; n++) {
        memcpy(b, a, sizeof b);
        lb_sha256_blocks_portable(a, buf + 64 * (n % 3), n - n % 3 ? n - n % 3 : 1);
        lb_sha256_blocks_shani(b, buf + 64 * (n % 3), n - n % 3 ? n - n % 3 : 1, lb_sha256_k);
        assert_memory_equal(a, b, sizeof a); /* a, the next round's state, differs each time */
    }
}

/* ------------------------------------------------------------------------------------------ */

/* The reference float16 of a non-NaN float32 bit pattern, by arithmetic in double (exact for
 * every float32; nearbyint rounds to nearest even in the default rounding mode), so that the
 * test needs no _Float16 (clang 14 has none on x86). */
static uint16_t ref_f16_portable(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    uint16_t sign = (uint16_t)((bits >> 31) << 15);
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7C00; /* beyond max half + half an ulp: inf */
    if (a < 0x1p-14) return sign | (uint16_t)nearbyint(a * 0x1p24); /* subnormal (0x400 ok) */
    int e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1): the half exponent is e - 1 */
    double q = nearbyint(ldexp(a, 11 - e)); /* 1024..2048 */
    if (q == 2048.0) {
        q = 1024.0;
        e++;
    }
    if (e - 1 > 15) return sign | 0x7C00;
    return sign | (uint16_t)((e - 1 + 15) << 10) | (uint16_t)(q - 1024.0);
}

/* The reference: the portable one, checked against the compiler's _Float16 where the
 * compiler has one (gcc on x86-64), so the portable reference is itself tested. */
static uint16_t ref_f16(uint32_t bits) {
    uint16_t r = ref_f16_portable(bits);
#if defined(__FLT16_MAX__)
    float f;
    memcpy(&f, &bits, 4);
    _Float16 h = (_Float16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    assert_int_equal(r, u);
#endif
    return r;
}

static uint16_t f16_of(float f) { return lb_f32_to_f16(f); }

static void test_f16(void **st) {
    (void)st;
    /* Known values (IEEE binary16, as numpy's astype(float16) gives them). */
    assert_int_equal(f16_of(0.0f), 0x0000);
    assert_int_equal(f16_of(-0.0f), 0x8000);
    assert_int_equal(f16_of(1.0f), 0x3C00);
    assert_int_equal(f16_of(-2.0f), 0xC000);
    assert_int_equal(f16_of(65504.0f), 0x7BFF);      /* max half */
    assert_int_equal(f16_of(65519.99f), 0x7BFF);     /* rounds down */
    assert_int_equal(f16_of(65520.0f), 0x7C00);      /* tie → even → inf */
    assert_int_equal(f16_of(1e10f), 0x7C00);
    assert_int_equal(f16_of(-1e10f), 0xFC00);
    assert_int_equal(f16_of(0x1p-14f), 0x0400);      /* min normal */
    assert_int_equal(f16_of(0x1p-24f), 0x0001);      /* min subnormal */
    assert_int_equal(f16_of(0x1p-25f), 0x0000);      /* tie → even → 0 */
    assert_int_equal(f16_of(0x1.8p-25f), 0x0001);    /* above the tie */
    assert_int_equal(f16_of(0x1.8p-24f), 0x0002);    /* 1.5 units: tie → even 2 */
    assert_int_equal(f16_of(0x1.4p-24f), 0x0001);
    assert_int_equal(f16_of(0x1.ffcp-15f), 0x0400);  /* subnormal rounding up into normal */
    assert_int_equal(f16_of(1.0f + 0x1p-11f), 0x3C00); /* tie → even */
    assert_int_equal(f16_of(1.0f + 0x1.8p-11f), 0x3C01);
    assert_int_equal(f16_of(__builtin_inff()), 0x7C00);
    uint16_t nan = f16_of(__builtin_nanf(""));
    assert_true((nan & 0x7C00) == 0x7C00 && (nan & 0x3FF) != 0);
    /* Dense sweep against the compiler's conversion: every 257th bit pattern plus every
     * pattern whose exponent is near the half range's edges (subnormals, overflow). */
    uint64_t bad = 0;
    for (uint64_t b = 0; b <= 0xFFFFFFFFu; b += 257) {
        uint32_t x = (uint32_t)b;
        float f;
        memcpy(&f, &x, 4);
        if (((x >> 23) & 0xFF) == 0xFF && (x & 0x7FFFFF)) continue; /* NaN payloads */
        bad += lb_f32_to_f16(f) != ref_f16(x);
    }
    for (uint32_t e = 98; e <= 114; e++)
        for (uint32_t m = 0; m < (1u << 23); m += 13)
            for (uint32_t sgn = 0; sgn < 2; sgn++) {
                uint32_t x = sgn << 31 | e << 23 | m;
                float f;
                memcpy(&f, &x, 4);
                bad += lb_f32_to_f16(f) != ref_f16(x);
            }
    for (uint32_t e = 140; e <= 144; e++)
        for (uint32_t m = 0; m < (1u << 23); m += 5) {
            uint32_t x = e << 23 | m;
            float f;
            memcpy(&f, &x, 4);
            bad += lb_f32_to_f16(f) != ref_f16(x);
        }
    assert_int_equal(bad, 0);
}

/* lb_f32_to_f16_array (F16C when the CPU has it) equals lb_f32_to_f16 bit for bit: every
 * 251st bit pattern of the 2^32 (NaNs included: a block of 8 with one goes scalar), in runs
 * whose lengths are not multiples of 8 (the scalar tail), plus every 7th mantissa of the edge
 * exponents (subnormal results, rounding into the normals, overflow). */
static void test_f16_array(void **st) {
    (void)st;
    enum { N = 4093 };
    static float x[N];
    static uint16_t got[N];
    uint64_t bad = 0, b = 0;
    while (b <= 0xFFFFFFFFu) {
        size_t n = 0;
        for (; n < N && b <= 0xFFFFFFFFu; n++, b += 251) {
            uint32_t u = (uint32_t)b;
            memcpy(&x[n], &u, 4);
        }
        lb_f32_to_f16_array(x, got, n);
        for (size_t i = 0; i < n; i++) bad += got[i] != lb_f32_to_f16(x[i]);
    }
    for (uint32_t e = 98; e <= 144; e += (e == 114 ? 26 : 1)) /* subnormal and overflow edges */
        for (uint32_t m0 = 0; m0 < (1u << 23); m0 += 7 * N) {
            size_t n = 0;
            for (uint32_t m = m0; m < m0 + 7 * N && m < (1u << 23); m += 7, n++) {
                uint32_t u = (m & 1u) << 31 | e << 23 | m;
                memcpy(&x[n], &u, 4);
            }
            lb_f32_to_f16_array(x, got, n);
            for (size_t i = 0; i < n; i++) bad += got[i] != lb_f32_to_f16(x[i]);
        }
    if (!lb_half_have_f16c()) printf("note: no F16C here, the scalar path was compared\n");
    assert_int_equal(bad, 0);
}

/* ------------------------------------------------------------------------------------------ */

/* Read all lines of path through lb_reader; compare with lines.h's splitter. */
static void check_reader_equals_lines(const char *data, size_t len) {
    char path[300];
    snprintf(path, sizeof path, "%s/r.txt", g_tmp);
    write_file(path, data, len);
    lb_reader *r;
    labse_error e;
    assert_int_equal(lb_reader_open(path, 0, UINT64_MAX, &r, &e), LABSE_OK);
    lb_line_iter it;
    lb_line_iter_init(&it, data, len);
    lb_line want;
    const char *p;
    size_t n;
    int capped;
    while (lb_line_next(&it, &want)) {
        assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
        assert_int_equal(capped, 0);
        assert_int_equal(n, want.len);
        assert_memory_equal(p, want.ptr, n);
    }
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 0);
    assert_int_equal(lb_reader_offset(r), len);
    lb_reader_free(r);
}

static void test_reader_rules(void **st) {
    (void)st;
    static const char *cases[] = {"", "\n", "a", "a\n", "a\n\nb", "a\r\n", "a\r", "a\rb\r\n\r\n",
                                  "x\0y\n\377\376\n", "\n\n\n", "last\r"};
    static const size_t lens[] = {0, 1, 1, 2, 4, 3, 2, 7, 7, 3, 5};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) check_reader_equals_lines(cases[i], lens[i]);
    /* Lines crossing the 8 MiB read boundary. */
    size_t big = ((size_t)9 << 20);
    char *d = malloc(big);
    for (size_t i = 0; i < big; i++) d[i] = (i % 1000 == 999) ? '\n' : (char)('a' + i % 26);
    check_reader_equals_lines(d, big);
    free(d);
}

static void test_reader_cap(void **st) {
    (void)st;
    /* line 0: 3 MiB of "word " (cut at a space), line 1: "ok", line 2: 2 MiB without space. */
    size_t n0 = (size_t)3 << 20, n2 = (size_t)2 << 20;
    size_t len = n0 + 1 + 3 + n2;
    char *d = malloc(len);
    for (size_t i = 0; i < n0; i++) d[i] = "word "[i % 5];
    d[n0] = '\n';
    memcpy(d + n0 + 1, "ok\n", 3);
    memset(d + n0 + 4, 'x', n2);
    char path[300];
    snprintf(path, sizeof path, "%s/cap.txt", g_tmp);
    write_file(path, d, len);
    lb_reader *r;
    labse_error e;
    const char *p;
    size_t n;
    int capped;
    assert_int_equal(lb_reader_open(path, 0, UINT64_MAX, &r, &e), LABSE_OK);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(capped, 1);
    assert_true(n <= LB_PIPE_LINE_CAP && n > LB_PIPE_LINE_CAP - 6);
    assert_memory_equal(p, d, n);
    assert_true(p[n - 1] != ' ' || n % 5 == 0); /* cut just before a space */
    /* the offset is already after the whole capped line (window and part byte ranges use it;
     * it was mid-line before tests/fuzz/fuzz_lines found it) */
    assert_int_equal(lb_reader_offset(r), n0 + 1);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(capped, 0);
    assert_int_equal(n, 2);
    assert_memory_equal(p, "ok", 2);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(capped, 1);
    assert_int_equal(n, LB_PIPE_LINE_CAP);
    assert_int_equal(lb_reader_offset(r), len);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 0);
    assert_int_equal(lb_reader_offset(r), len);
    lb_reader_free(r);

    /* a line of exactly the cap before its CRLF, then one before a final CR: both whole */
    size_t m = LB_PIPE_LINE_CAP;
    len = 2 * (m + 1) + 1;
    memset(d, 'y', len);
    memcpy(d + m, "\r\n", 2);
    d[len - 1] = '\r';
    write_file(path, d, len);
    assert_int_equal(lb_reader_open(path, 0, UINT64_MAX, &r, &e), LABSE_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
        assert_int_equal(capped, 0);
        assert_int_equal(n, m);
    }
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 0);
    lb_reader_free(r);
    free(d);
}

/* ------------------------------------------------------------------------------------------ */

/* The test seam lb_reader_open_limits: a cap under 3 bytes backs off to a character boundary
 * and not before byte 0 (cap - 3 wrapped there before); 1-byte reads give the same lines;
 * a zero cap or read size is refused. */
static void test_reader_small_cap(void **st) {
    (void)st;
    static const char d[] = "a\xc3\xa9\nxy\r\nz";
    char path[300];
    snprintf(path, sizeof path, "%s/small.txt", g_tmp);
    write_file(path, d, sizeof d - 1);
    lb_reader *r;
    labse_error e;
    const char *p;
    size_t n;
    int capped;
    assert_int_equal(lb_reader_open_limits(path, 0, UINT64_MAX, 2, 1, &r, &e), LABSE_OK);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(capped, 1);
    assert_int_equal(n, 1); /* "a", not "a\xc3": the cut is before the 2-byte character */
    assert_int_equal(lb_reader_offset(r), 4);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(capped, 0); /* 2 bytes before CRLF: exactly the cap */
    assert_int_equal(n, 2);
    assert_memory_equal(p, "xy", 2);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 1);
    assert_int_equal(n, 1);
    assert_int_equal(lb_reader_next(r, &p, &n, &capped, &e), 0);
    assert_int_equal(lb_reader_offset(r), sizeof d - 1);
    lb_reader_free(r);
    assert_int_equal(lb_reader_open_limits(path, 0, UINT64_MAX, 0, 1, &r, &e), LABSE_E_INVALID);
    assert_int_equal(lb_reader_open_limits(path, 0, UINT64_MAX, 1, 0, &r, &e), LABSE_E_INVALID);
}

static void test_bucket_and_cut(void **st) {
    (void)st;
    int32_t ntok[] = {5, 2, 9, 2, 5, 128, 3};
    uint32_t order[7];
    assert_int_equal(lb_bucket_order(ntok, 7, 128, order), 0);
    uint32_t want[] = {1, 3, 6, 0, 4, 2, 5}; /* by length, ties in input order */
    assert_memory_equal(order, want, sizeof want);
    /* token budget 10: {2,2,3} (7; +5 = 12 > 10), {5,5}, {9}, {128 alone} */
    size_t at = 0, cuts[8], nc = 0;
    while (at < 7) {
        size_t k = lb_batch_cut(ntok, order, at, 7, 10, UINT64_MAX);
        cuts[nc++] = k;
        at += k;
    }
    assert_int_equal(nc, 4);
    assert_int_equal(cuts[0], 3);
    assert_int_equal(cuts[1], 2);
    assert_int_equal(cuts[2], 1);
    assert_int_equal(cuts[3], 1);
    /* attention budget 30: 2²+2²+3² = 17, +5² = 42 > 30 */
    assert_int_equal(lb_batch_cut(ntok, order, 0, 7, 1000, 30), 3);
}

/* ------------------------------------------------------------------------------------------ */

static void test_shards_partition(void **st) {
    (void)st;
    /* Lines of varied lengths, some empty, last without '\n'. */
    char *d = malloc(200000);
    size_t len = 0;
    unsigned seed = 7;
    for (int i = 0; i < 3000; i++) {
        seed = seed * 1103515245u + 12345u;
        int l = (int)((seed >> 16) % 120);
        for (int j = 0; j < l; j++) d[len++] = (char)('a' + j % 26);
        if (i < 2999) d[len++] = '\n';
    }
    char path[300];
    snprintf(path, sizeof path, "%s/sh.txt", g_tmp);
    write_file(path, d, len);
    size_t total = lb_lines_count(d, len);
    static const int Ns[] = {1, 2, 3, 7, 64, 5000};
    static const uint64_t aligns[] = {1, 100, 1000};
    for (size_t a = 0; a < 3; a++)
        for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++) {
            int N = Ns[ni];
            /* more shards than lines (empty shards) once: every shard open fingerprints the
             * file, which under ASan in a Debug build costs ~10 ms a call */
            if (N > 1000 && a > 0) continue;
            uint64_t pos = 0, line = 0;
            for (int k = 0; k < N; k++) {
                lb_input_range r;
                labse_error e;
                assert_int_equal(lb_input_range_open(path, k, N, aligns[a], &r, &e), LABSE_OK);
                assert_int_equal(r.start, pos);
                assert_int_equal(r.line_start, line);
                if (N > 1) assert_int_equal(r.line_start % aligns[a], 0);
                assert_int_equal(r.lines, lb_lines_count(d + r.start, r.end - r.start));
                pos = r.end;
                line += r.lines;
            }
            assert_int_equal(pos, len);
            assert_int_equal(line, total);
        }
    free(d);
}

/* d[0..len) as a gzip member (zlib) or a zstd frame into path. */
static void write_compressed(const char *path, const char *d, size_t len, int zstd) {
    size_t cap = zstd ? ZSTD_compressBound(len) : compressBound((uLong)len) + 64;
    unsigned char *c = malloc(cap);
    size_t n;
    if (zstd) {
        n = ZSTD_compress(c, cap, d, len, 3);
        assert_false(ZSTD_isError(n));
    } else {
        z_stream z;
        memset(&z, 0, sizeof z);
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (unsigned char *)d;
        z.avail_in = (uInt)len;
        z.next_out = c;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        n = z.total_out;
        deflateEnd(&z);
    }
    write_file(path, c, n);
    free(c);
}

/* A compressed file is cut exactly as its plain text (lb_zrange_open = the plain rule over
 * the decompressed bytes), and its ranges hash as the plain file's, in any order (the
 * hasher restarts the stream to go back). */
static void test_shards_compressed(void **st) {
    (void)st;
    char *d = malloc(100000);
    size_t len = 0;
    unsigned seed = 11;
    for (int i = 0; i < 1500; i++) {
        seed = seed * 1103515245u + 12345u;
        int l = (int)((seed >> 16) % 120);
        for (int j = 0; j < l; j++) d[len++] = (char)('a' + j % 26);
        if (i < 1499) d[len++] = '\n';
    }
    char plain[300], comp[300];
    snprintf(plain, sizeof plain, "%s/zs.txt", g_tmp);
    write_file(plain, d, len);
    static const int Ns[] = {1, 2, 3, 7, 64};
    static const uint64_t aligns[] = {1, 100};
    for (int z = 0; z < 2; z++) {
        snprintf(comp, sizeof comp, "%s/zs.%s", g_tmp, z ? "zst" : "gz");
        write_compressed(comp, d, len, z);
        for (size_t a = 0; a < 2; a++)
            for (size_t ni = 0; ni < sizeof Ns / sizeof Ns[0]; ni++)
                for (int k = 0; k < Ns[ni]; k++) {
                    lb_input_range rp, rc;
                    labse_error e;
                    assert_int_equal(lb_input_range_open(plain, k, Ns[ni], aligns[a], &rp, &e),
                                     LABSE_OK);
                    assert_int_equal(lb_input_range_open(comp, k, Ns[ni], aligns[a], &rc, &e),
                                     LABSE_OK);
                    assert_int_equal(rc.comp, z ? 2 : 1);
                    assert_int_equal(rc.data_size, len);
                    assert_int_equal(rc.start, rp.start);
                    assert_int_equal(rc.end, rp.end);
                    assert_int_equal(rc.line_start, rp.line_start);
                    assert_int_equal(rc.lines, rp.lines);
                }
        lb_range_hasher *hp, *hc;
        labse_error e;
        assert_int_equal(lb_range_hasher_open(plain, &hp, &e), LABSE_OK);
        assert_int_equal(lb_range_hasher_open(comp, &hc, &e), LABSE_OK);
        static const uint64_t rs[][2] = {{0, 10}, {5000, 70000}, {70000, 70000}, {100, 90000}};
        for (size_t i = 0; i < 4; i++) {
            char h1[65], h2[65];
            assert_int_equal(lb_range_hasher_sha256(hp, rs[i][0], rs[i][1], h1, &e), LABSE_OK);
            assert_int_equal(lb_range_hasher_sha256(hc, rs[i][0], rs[i][1], h2, &e), LABSE_OK);
            assert_string_equal(h1, h2);
        }
        assert_int_equal(lb_range_hasher_sha256(hc, 0, len + 1, (char[65]){0}, &e), LABSE_E_IO);
        lb_range_hasher_free(hp);
        lb_range_hasher_free(hc);
    }
    free(d);
}

/* ------------------------------------------------------------------------------------------ */

static void test_manifest_roundtrip(void **st) {
    (void)st;
    lb_manifest m;
    memset(&m, 0, sizeof m);
    m.format = 1;
    m.model = strdup("/models/x \"quoted\"");
    m.input_path = strdup("in\\put.txt");
    m.dim = 768;
    m.max_length = 256;
    m.dtype = LB_NPY_F16;
    m.qformat = LB_Q_F16;
    m.part_rows = 1000;
    m.input_size = 123456789;
    memset(m.fingerprint, 'a', 64);
    m.shard_index = 2;
    m.shard_count = 5;
    m.byte_start = 10;
    m.byte_end = 20;
    m.line_start = 3000;
    m.lines = 1500;
    strcpy(m.compression, "zstd");
    m.data_size = 987654321;
    strcpy(m.records, "jsonl-field:a.\"b\"");
    m.dedup_slots = 4096; /* --dedup: the table and the parts' duplicates round-trip */
    lb_manifest_part p = {.file = "part-00000.npy", .first_line = 3000, .rows = 1000,
                          .byte_start = 10, .byte_end = 15, .duplicates = 37};
    memset(p.sha256, 'b', 64); /* a part of a manifest written before XXH3-128 */
    memset(p.input_sha256, 'd', 64);
    assert_int_equal(lb_manifest_add_part(&m, &p), 0);
    lb_manifest_part q = {.file = "part-00001.npy", .first_line = 4000, .rows = 500,
                          .byte_start = 15, .byte_end = 20}; /* a stream's: null */
    memset(q.xxh128, 'e', 32); /* a part written now */
    assert_int_equal(lb_manifest_add_part(&m, &q), 0);
    m.complete = 1;
    labse_error e;
    assert_int_equal(lb_manifest_write(g_tmp, &m, &e), LABSE_OK);
    lb_manifest r;
    int absent;
    assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_OK);
    assert_string_equal(r.model, m.model);
    assert_string_equal(r.input_path, m.input_path);
    assert_int_equal(r.dim, 768);
    assert_int_equal(r.dtype, LB_NPY_F16);
    assert_int_equal(r.input_size, 123456789);
    assert_string_equal(r.compression, "zstd");
    assert_int_equal(r.data_size, 987654321);
    assert_string_equal(r.records, m.records);
    assert_string_equal(r.fingerprint, m.fingerprint);
    assert_int_equal(r.shard_index, 2);
    assert_int_equal(r.lines, 1500);
    assert_int_equal(r.n_parts, 2);
    assert_string_equal(r.parts[0].sha256, p.sha256);
    assert_string_equal(r.parts[0].xxh128, "");
    assert_string_equal(r.parts[1].xxh128, q.xxh128);
    assert_string_equal(r.parts[1].sha256, "");
    assert_string_equal(r.parts[0].input_sha256, p.input_sha256);
    assert_string_equal(r.parts[1].input_sha256, "");
    assert_int_equal(r.parts[0].first_line, 3000);
    assert_int_equal(r.dedup_slots, 4096);
    assert_int_equal(r.parts[0].duplicates, 37);
    assert_int_equal(r.parts[1].duplicates, 0);
    assert_int_equal(r.complete, 1);
    lb_manifest_free(&r);
    lb_manifest_free(&m);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/manifest.json", g_tmp);
    /* A part's checksum: exactly one of "xxh128" (32 lower-case hex digits) or "sha256" (64). */
    {
        lb_manifest one;
        memset(&one, 0, sizeof one);
        one.format = 1;
        one.model = "m";
        one.input_path = "in.txt";
        one.dim = 4;
        one.max_length = 8;
        one.dtype = LB_NPY_F32;
        one.part_rows = 1;
        one.shard_count = 1;
        lb_manifest_part x = {.file = "part-00000.npy", .rows = 1};
        memset(x.xxh128, 'a', 32);
        one.parts = &x;
        one.n_parts = 1;
        assert_int_equal(lb_manifest_write(g_tmp, &one, &e), LABSE_OK);
        size_t len;
        char *good = tf_read_all(bad, &len);
        assert_non_null(good);
        assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_OK);
        lb_manifest_free(&r);
        const char *key = "\"xxh128\": \"";
        char *at = strstr(good, key);
        assert_non_null(at);
        const char *swaps[] = {
            "\"xxh128\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",                  /* 31 digits */
            "\"xxh128\": \"Aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",                 /* upper case */
            "\"xxh128\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaag\"",                 /* not hex */
            "\"xxh129\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",                 /* neither */
            "\"xxh128\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"sha256\": \""
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", /* both */
            "\"sha256\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",                 /* 32 for 64 */
        };
        const size_t klen = strlen(key) + 33; /* "xxh128": "<32>" */
        for (size_t i = 0; i < sizeof swaps / sizeof *swaps; i++) {
            char text[4096];
            int n = snprintf(text, sizeof text, "%.*s%s%s", (int)(at - good), good, swaps[i],
                             at + klen);
            assert_true(n > 0 && (size_t)n < sizeof text);
            write_file(bad, text, (size_t)n);
            assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_E_FORMAT);
        }
        free(good);
        /* A part name read from a manifest may hold quotes, backslashes and control bytes: it
         * is written back escaped and reads back the same (fuzz_manifest found it written raw:
         * tests/fuzz/corpus/fuzz_manifest/regress-file-escape). */
        strcpy(x.file, "a\\b\"c\x01\x1f.npy");
        assert_int_equal(lb_manifest_write(g_tmp, &one, &e), LABSE_OK);
        assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_OK);
        assert_string_equal(r.parts[0].file, x.file);
        lb_manifest_free(&r);
    }
    write_file(bad, "{\"format\": 1}", 13);
    assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_E_FORMAT);
    unlink(bad);
    assert_int_equal(lb_manifest_read(g_tmp, &r, &absent, &e), LABSE_E_IO);
    assert_int_equal(absent, 1);
}

/* The parts-listing reader (mining): a written run manifest reads back; a minimal listing
 * without dim/dtype is accepted; unsafe names and bad fields are refused. */
static void test_manifest_parts_listing(void **st) {
    (void)st;
    lb_manifest m;
    memset(&m, 0, sizeof m);
    m.format = 1;
    m.dim = 8;
    m.dtype = LB_NPY_F16;
    m.qformat = LB_Q_F16;
    lb_manifest_part p = {.file = "part-00000.npy", .rows = 7};
    memset(p.xxh128, 'c', 32);
    assert_int_equal(lb_manifest_add_part(&m, &p), 0);
    labse_error e;
    assert_int_equal(lb_manifest_write(g_tmp, &m, &e), LABSE_OK);
    lb_manifest_free(&m);
    lb_manifest r;
    assert_int_equal(lb_manifest_read_parts(g_tmp, &r, &e), LABSE_OK);
    assert_int_equal(r.dim, 8);
    assert_int_equal(r.has_dtype, 1);
    assert_int_equal(r.dtype, LB_NPY_F16);
    assert_int_equal(r.n_parts, 1);
    assert_string_equal(r.parts[0].file, "part-00000.npy");
    assert_int_equal(r.parts[0].rows, 7);
    lb_manifest_free(&r);
    char path[300];
    snprintf(path, sizeof path, "%s/manifest.json", g_tmp);
    const char *min = "{\"parts\": [{\"file\": \"sub/a.npy\", \"first_line\": 0, \"rows\": 3}]}";
    write_file(path, min, strlen(min));
    assert_int_equal(lb_manifest_read_parts(g_tmp, &r, &e), LABSE_OK);
    assert_int_equal(r.dim, 0);
    assert_int_equal(r.has_dtype, 0);
    assert_string_equal(r.parts[0].file, "sub/a.npy");
    lb_manifest_free(&r);
    const char *bad[] = {
        "{\"parts\": [{\"file\": \"../a.npy\", \"first_line\": 0, \"rows\": 3}]}",
        "{\"parts\": [{\"file\": \"/a.npy\", \"first_line\": 0, \"rows\": 3}]}",
        "{\"parts\": [{\"file\": \"a.npy\", \"first_line\": -1, \"rows\": 3}]}",
        "{\"dim\": 0, \"parts\": []}",
        "{\"dtype\": \"int4\", \"parts\": []}",
        "{\"dtype\": \"bf16\", \"parts\": []}", /* a --format name, not the manifest's */
        "{\"parts\": 3}",
        "not json",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(path, bad[i], strlen(bad[i]));
        assert_int_equal(lb_manifest_read_parts(g_tmp, &r, &e), LABSE_E_FORMAT);
        assert_non_null(strstr(e.message, "manifest.json"));
    }
    unlink(path);
}

/* ------------------------------------------------------------------------------------------ */

static void test_tokpool_order(void **st) {
    (void)st;
    labse_model *m;
    labse_error e;
    labse_options o = labse_default_options();
    o.device = LABSE_DEVICE_CPU;
    if (labse_model_load(LABSE_SRC_DIR "/tests/data/tiny-bert", &o, &m, &e) != LABSE_OK) skip();
    /* 5000 lines of varied text; windows of 300 lines, grid of 1000, 3 threads. */
    char path[300];
    snprintf(path, sizeof path, "%s/tp.txt", g_tmp);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 5000; i++) fprintf(f, "line %d %.*s\n", i, i % 50, "the quick brown fox jumps over the lazy dog again and again");
    fclose(f);
    lb_reader *r;
    assert_int_equal(lb_reader_open(path, 0, UINT64_MAX, &r, &e), LABSE_OK);
    lb_tokpool_config c = {.engine = lb_model_engine(m), .threads = 3, .window = 300, .window_bytes = (size_t)4 << 20,
                           .first_line = 0, .grid = 1000};
    lb_tokpool *p;
    assert_int_equal(lb_tokpool_start(&c, r, &p, &e), LABSE_OK);
    int maxl = labse_model_max_length(m);
    int32_t *ids = malloc((size_t)maxl * sizeof *ids);
    uint64_t line = 0, lastbyte = 0;
    lb_window *w;
    int saw_last = 0;
    while ((w = lb_tokpool_next(p)) != NULL) {
        assert_int_equal(w->first_line, line);
        assert_int_equal(w->byte_start, lastbyte);
        /* never crosses a grid line */
        assert_true(w->n == 0 || (w->first_line / 300 == (w->first_line + w->n - 1) / 300 &&
                                  w->first_line / 1000 == (w->first_line + w->n - 1) / 1000));
        for (size_t i = 0; i < w->n; i++) {
            char text[200];
            int tl = snprintf(text, sizeof text, "line %d %.*s", (int)(line + i), (int)((line + i) % 50),
                              "the quick brown fox jumps over the lazy dog again and again");
            size_t k = labse_tokenize(m, text, (size_t)tl, ids, NULL, &e);
            assert_int_equal(k, (size_t)w->ntok[i]);
            assert_memory_equal(ids, w->ids[i], k * sizeof *ids);
        }
        line += w->n;
        lastbyte = w->byte_end;
        saw_last = w->last;
        lb_tokpool_release(p, w);
    }
    assert_true(saw_last);
    assert_int_equal(line, 5000);
    double ts;
    assert_int_equal(lb_tokpool_finish(p, &ts, &e), LABSE_OK);
    free(ids);
    labse_model_free(m);
}

/* The scheduler's check of the rows a backend returns (pipeline.c, all_finite): a NaN or an
 * inf anywhere in a batch (first value, last value of the last row) stops the run with
 * LABSE_E_INVALID and leaves no .npy; zeros pass. The backend: the null one (zeros), its
 * submit wrapped to plant the value at g_bad_at of the batch. Every other case runs with
 * --dedup (a 64-line table; the input: 50 lines cycling through 20 texts, so 30 duplicates),
 * which also puts the dedup path's threads under ThreadSanitizer (tools/test.sh). */
static lb_backend g_null;
static size_t g_bad_at;         /* (size_t)-1: the last value of the batch */
static float g_bad_value;
static int g_dim;
static labse_status bad_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu, int n,
                               float *out, labse_error *err) {
    labse_status s = g_null.submit(ctx, slot, ids, cu, n, out, err);
    size_t at = g_bad_at == (size_t)-1 ? (size_t)n * (size_t)g_dim - 1 : g_bad_at;
    if (s == LABSE_OK && n > 0) out[at] = g_bad_value;
    return s;
}

static void test_rows_finite_check(void **st) {
    (void)st;
    labse_model *m;
    labse_error e;
    labse_options o = labse_default_options();
    o.device = LABSE_DEVICE_NULL;
    if (labse_model_load(LABSE_SRC_DIR "/tests/data/tiny-bert", &o, &m, &e) != LABSE_OK) skip();
    const lb_engine *eng = lb_model_engine(m);
    g_dim = lb_engine_dim(eng);
    char in[300], out[300];
    snprintf(in, sizeof in, "%s/nf.txt", g_tmp);
    snprintf(out, sizeof out, "%s/nf.npy", g_tmp);
    FILE *f = fopen(in, "w");
    for (int i = 0; i < 50; i++) fprintf(f, "line %d\n", i % 20); /* duplicates: --dedup */
    fclose(f);
    const struct { size_t at; float v; labse_status want; } cases[] = {
        {0, NAN, LABSE_E_INVALID}, {(size_t)-1, INFINITY, LABSE_E_INVALID},
        {(size_t)-1, -INFINITY, LABSE_E_INVALID}, {3, 0.0f, LABSE_OK}, {3, -1e30f, LABSE_OK}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_int_equal(lb_engine_backend(eng, LB_BACKEND_STREAM, &g_null, &e), LABSE_OK);
        lb_backend be = g_null;
        be.submit = bad_submit;
        g_bad_at = cases[c].at;
        g_bad_value = cases[c].v;
        lb_pipe_options po = lb_pipe_default_options();
        po.input = in;
        po.output = out;
        po.tok_threads = 2;
        po.dedup_slots = c % 2 ? 64 : 0;
        lb_pipe_stats ps;
        (void)unlink(out);
        labse_status s = lb_pipe_run(eng, &be, &po, &ps, &e);
        g_null.destroy(g_null.ctx);
        assert_int_equal(s, cases[c].want);
        assert_int_equal(access(out, F_OK) == 0, cases[c].want == LABSE_OK);
        if (s != LABSE_OK) assert_non_null(strstr(e.message, "non-finite"));
        if (s == LABSE_OK) assert_int_equal(ps.duplicates, c % 2 ? 30 : 0);
    }
    labse_model_free(m);
}

/* --dedup's table (pipe_dedup.c): codes of a known sequence; eviction by slots (oldest first)
 * and by text bytes; reset; equal hashes are not enough (the bytes are compared: lines that
 * differ only past their common prefix, and lines of equal length); apply copies rows. */
static void test_dedup_table(void **st) {
    (void)st;
    lb_dedup *d = NULL;
    labse_error e;
    assert_int_equal(lb_dedup_new(0, 64, &d, &e), LABSE_E_INVALID);
    assert_int_equal(lb_dedup_new(3, 16, &d, &e), LABSE_OK); /* 3 lines, 16 bytes of text */
#define CODE(s) lb_dedup_line(d, s, strlen(s))
#define NEW(t) (((uint32_t)(t) << 2) | LB_DEDUP_NEW)
#define COPY(t) (((uint32_t)(t) << 2) | LB_DEDUP_COPY)
    assert_int_equal(CODE("aa"), NEW(0));
    assert_int_equal(CODE("bb"), NEW(1));
    assert_int_equal(CODE("aa"), COPY(0));
    assert_int_equal(CODE(""), NEW(2));        /* the empty line is a line like another */
    assert_int_equal(CODE(""), COPY(2));
    assert_int_equal(CODE("ab"), NEW(0));      /* 4th distinct line: "aa" (oldest) forgotten */
    assert_int_equal(CODE("aa"), NEW(1));      /* encoded again; "bb" forgotten */
    assert_int_equal(CODE("bb"), NEW(2));
    assert_int_equal(CODE("ab"), COPY(0));
    /* text bytes: 16; a 15-byte line evicts until the live texts span at most 16 bytes */
    assert_int_equal(CODE("0123456789abcde"), NEW(0));
    assert_int_equal(CODE("bb"), NEW(1));      /* forgotten before; the long line goes too */
    assert_int_equal(CODE("0123456789abcdX"), NEW(2)); /* same length, last byte differs */
    assert_int_equal(CODE("0123456789abcdX"), COPY(2));
    assert_int_equal(CODE("0123456789abcdefg"), LB_DEDUP_NONE); /* over 16 bytes */
    lb_dedup_reset(d);
    assert_int_equal(CODE("0123456789abcdX"), NEW(0)); /* forgotten at the part start */
    assert_int_equal(CODE("0123456789abcdX"), COPY(0));
    /* apply: rows in line order, NEW stored, COPY copied, NONE untouched */
    const uint32_t codes[4] = {NEW(1), COPY(1), LB_DEDUP_NONE, COPY(1)};
    float rows[4 * 2] = {1, 2, 9, 9, 5, 6, 9, 9}, store[3 * 2] = {0};
    lb_dedup_apply(codes, 4, 2, rows, store);
    const float want[8] = {1, 2, 1, 2, 5, 6, 1, 2};
    assert_memory_equal(rows, want, sizeof want);
#undef CODE
#undef NEW
#undef COPY
    lb_dedup_free(d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_paths),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_f16_array),
        cmocka_unit_test(test_reader_rules),
        cmocka_unit_test(test_reader_cap),
        cmocka_unit_test(test_reader_small_cap),
        cmocka_unit_test(test_bucket_and_cut),
        cmocka_unit_test(test_shards_partition),
        cmocka_unit_test(test_shards_compressed),
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_parts_listing),
        cmocka_unit_test(test_tokpool_order),
        cmocka_unit_test(test_dedup_table),
        cmocka_unit_test(test_rows_finite_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
