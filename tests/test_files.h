/* test_files.h — whole-file helpers shared by the cmocka tests: read a file into memory and
 * write one, find the data of a .npy, the sha256 of bytes; failing the test (cmocka asserts) on any error.
 * Include after <cmocka.h>.
 * Header-only (static functions): each test program is one translation unit. */
#ifndef LB_TEST_FILES_H
#define LB_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"

/* 1, after printing "SKIP: DIR/config.json not found", when dir holds no model (a test
 * program then returns 77, CTest's skip); 0 when it does. */
static inline int tf_no_model(const char *dir) {
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);
    FILE *f = fopen(cfg, "rb");
    if (!f) {
        printf("SKIP: %s not found\n", cfg);
        return 1;
    }
    fclose(f);
    return 0;
}

/* The bytes of path, NUL-terminated (malloc'ed; the caller frees), *len without the NUL.
 * NULL when the file cannot be opened (a test may expect that). */
static inline char *tf_read_all(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);
    char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

/* Write len bytes of data to path (created or truncated). */
static inline void tf_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* The data of a version-1 .npy held in b[len] (the header length is at bytes 8..9):
 * *data_len bytes from the returned pointer into b. */
static inline const char *tf_npy_data(const char *b, size_t len, size_t *data_len) {
    assert_true(len >= 10 && memcmp(b, "\x93NUMPY\x01\x00", 8) == 0);
    size_t h = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
    *data_len = len - 10 - h;
    return b + 10 + h;
}

/* hex[65] = the sha256 of d[0..n), lower-case hex (base/sha256.h). */
static inline void tf_sha256_hex(const void *d, size_t n, char hex[65]) {
    lb_sha256 c;
    uint8_t dg[32];
    lb_sha256_init(&c);
    lb_sha256_update(&c, d, n);
    lb_sha256_final(&c, dg);
    lb_sha256_hex(dg, hex);
}

#endif
