/* test_files.h — whole-file helpers shared by the cmocka tests: read a file into memory and
 * write one, failing the test (cmocka asserts) on any I/O error. Include after <cmocka.h>.
 * Header-only (static functions): each test program is one translation unit. */
#ifndef LB_TEST_FILES_H
#define LB_TEST_FILES_H

#include <stdio.h>
#include <stdlib.h>

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

#endif
