/* test_lines.c — the line rules of lines.h (CRLF, last line without newline, empty lines,
 * lone '\r', NUL bytes, empty input) and lb_input_read (file, empty file, pipe, a gzip file
 * and a truncated one, errors).
 * Label: unit. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "io/lines.h"

/* Split buf[0..len) three ways (count, iterator, array) and check they agree with the
 * expected lines (given as n (ptr,len) pairs of literal strings). */
typedef struct expect_line {
    const char *s;
    size_t len;
} expect_line;

#define L(lit) {lit, sizeof(lit) - 1}

static void check_split(const char *buf, size_t len, const expect_line *exp, size_t n) {
    assert_int_equal(lb_lines_count(buf, len), n);

    lb_line_iter it;
    lb_line_iter_init(&it, buf, len);
    lb_line line;
    for (size_t i = 0; i < n; i++) {
        assert_true(lb_line_next(&it, &line));
        if (line.len != exp[i].len) fail_msg("line %zu: length %zu, want %zu", i, line.len, exp[i].len);
        assert_memory_equal(line.ptr, exp[i].s, exp[i].len);
        /* views point into the buffer */
        assert_true(line.ptr >= buf && line.ptr + line.len <= buf + len);
    }
    assert_false(lb_line_next(&it, &line));
    assert_false(lb_line_next(&it, &line)); /* stays done */

    lb_line *arr = (lb_line *)1;
    size_t m = 99;
    labse_error err;
    assert_int_equal(lb_lines_split(buf, len, &arr, &m, &err), LABSE_OK);
    assert_int_equal(m, n);
    if (n == 0) assert_null(arr);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(arr[i].len, exp[i].len);
        assert_memory_equal(arr[i].ptr, exp[i].s, exp[i].len);
    }
    free(arr);
}

#define CHECK(lit, ...)                                                                        \
    do {                                                                                       \
        static const expect_line e_[] = {__VA_ARGS__};                                         \
        check_split(lit, sizeof(lit) - 1, e_, sizeof e_ / sizeof *e_);                         \
    } while (0)

static void test_basic(void **state) {
    (void)state;
    CHECK("a\nb\nc\n", L("a"), L("b"), L("c"));
    CHECK("a\nb\nc", L("a"), L("b"), L("c"));          /* last line without newline */
    CHECK("one", L("one"));
    CHECK("one\n", L("one"));
    CHECK("\n", L(""));                                /* only a newline: one empty line */
    CHECK("\n\n", L(""), L(""));
    CHECK("a\n\nb\n\n", L("a"), L(""), L("b"), L(""));  /* empty lines keep their place */
    CHECK("\na", L(""), L("a"));
}

static void test_empty(void **state) {
    (void)state;
    check_split("", 0, NULL, 0);
    check_split(NULL, 0, NULL, 0);
    lb_line_iter it;
    lb_line line;
    lb_line_iter_init(&it, NULL, 0);
    assert_false(lb_line_next(&it, &line));
}

static void test_crlf(void **state) {
    (void)state;
    CHECK("a\r\nb\r\n", L("a"), L("b"));
    CHECK("a\r\nb", L("a"), L("b"));                   /* mixed, no final newline */
    CHECK("a\r\nb\r", L("a"), L("b"));                 /* CRLF file that lost its last \n */
    CHECK("\r\n", L(""));
    CHECK("\r\n\r\n", L(""), L(""));
    CHECK("a\r\r\n", L("a\r"));                        /* only one \r is removed */
    CHECK("a\rb\n", L("a\rb"));                        /* lone \r in the middle is kept */
    CHECK("a\rb", L("a\rb"));
    CHECK("\ra\n", L("\ra"));
    CHECK("\r", L(""));                                /* a lone \r at the end of input */
    CHECK("a\n\r", L("a"), L(""));
}

static void test_bytes_kept(void **state) {
    (void)state;
    CHECK("a\0b\n\0\n", L("a\0b"), L("\0"));           /* NUL bytes are ordinary bytes */
    CHECK("\0", L("\0"));
    CHECK("\xff\xfe\n\xc3\n", L("\xff\xfe"), L("\xc3")); /* invalid UTF-8 passes through */
    CHECK("\t x \t\n", L("\t x \t"));                  /* whitespace is not trimmed here */
}

static void test_long_lines(void **state) {
    (void)state;
    size_t n = 1 << 20;
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, 'x', n);
    buf[n / 2] = '\n';
    assert_int_equal(lb_lines_count(buf, n), 2);
    lb_line_iter it;
    lb_line l;
    lb_line_iter_init(&it, buf, n);
    assert_true(lb_line_next(&it, &l));
    assert_int_equal(l.len, n / 2);
    assert_true(lb_line_next(&it, &l));
    assert_int_equal(l.len, n - n / 2 - 1);
    assert_false(lb_line_next(&it, &l));
    /* all newlines */
    memset(buf, '\n', n);
    assert_int_equal(lb_lines_count(buf, n), n);
    free(buf);
}

/* ---- lb_input_read --------------------------------------------------------------------- */

static char g_dir[128];

static int setup_dir(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/labse_test_lines.XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown_dir(void **state) {
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void test_read_file(void **state) {
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/in.txt", g_dir);
    static const char content[] = "x\r\n\0y\n\xff";
    write_file(path, content, sizeof content - 1);
    lb_input in;
    labse_error err;
    assert_int_equal(lb_input_read(path, &in, &err), LABSE_OK);
    assert_int_equal(in.len, sizeof content - 1);
    assert_memory_equal(in.data, content, in.len);
    assert_int_equal(in.mapped, 1);
    assert_int_equal(lb_lines_count(in.data, in.len), 3);
    lb_input_free(&in);
    assert_null(in.data);
    assert_int_equal(in.len, 0);
    lb_input_free(&in); /* twice is fine */
    lb_input_free(NULL);

    /* empty file: no data, zero lines */
    snprintf(path, sizeof path, "%s/empty.txt", g_dir);
    write_file(path, "", 0);
    assert_int_equal(lb_input_read(path, &in, &err), LABSE_OK);
    assert_int_equal(in.len, 0);
    assert_null(in.data);
    assert_int_equal(lb_lines_count(in.data, in.len), 0);
    lb_input_free(&in);
}

/* A gzip file reads as its decompressed bytes; a truncated one is LABSE_E_FORMAT. */
static void test_read_compressed(void **state) {
    (void)state;
    static const char content[] = "x\r\n\0y\n\xff";
    unsigned char gz[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)content;
    z.avail_in = sizeof content - 1;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t n = z.total_out;
    deflateEnd(&z);
    char path[256];
    snprintf(path, sizeof path, "%s/in.gz", g_dir);
    write_file(path, gz, n);
    lb_input in;
    labse_error err;
    assert_int_equal(lb_input_read(path, &in, &err), LABSE_OK);
    assert_int_equal(in.len, sizeof content - 1);
    assert_memory_equal(in.data, content, in.len);
    assert_int_equal(in.mapped, 0);
    lb_input_free(&in);
    write_file(path, gz, n - 9); /* the 8-byte trailer and a data byte cut off */
    assert_int_equal(lb_input_read(path, &in, &err), LABSE_E_FORMAT);
    assert_true(strstr(err.message, "truncated gzip stream") != NULL);
    assert_null(in.data);
}

static void test_read_errors(void **state) {
    (void)state;
    char path[256];
    lb_input in;
    labse_error err;
    snprintf(path, sizeof path, "%s/nope.txt", g_dir);
    assert_int_equal(lb_input_read(path, &in, &err), LABSE_E_IO);
    assert_int_equal(err.status, LABSE_E_IO);
    assert_true(strstr(err.message, path) != NULL);
    assert_true(strstr(err.message, strerror(ENOENT)) != NULL);
    assert_null(in.data);

    assert_int_equal(lb_input_read(g_dir, &in, &err), LABSE_E_IO); /* a directory */
    assert_true(strstr(err.message, g_dir) != NULL);
    assert_true(strstr(err.message, "directory") != NULL);

    assert_int_equal(lb_input_read(NULL, &in, &err), LABSE_E_INVALID);
    assert_int_equal(lb_input_read(path, NULL, NULL), LABSE_E_INVALID);
}

/* stdin ("-") and a pipe: read to the end into the heap. */
static void test_read_stdin_pipe(void **state) {
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        /* more than one read() worth, in pieces */
        char chunk[1000];
        memset(chunk, 'z', sizeof chunk);
        chunk[sizeof chunk - 1] = '\n';
        for (int i = 0; i < 300; i++)
            if (write(fds[1], chunk, sizeof chunk) != (ssize_t)sizeof chunk) _exit(1);
        if (write(fds[1], "tail", 4) != 4) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fds[0], STDIN_FILENO), STDIN_FILENO);
    close(fds[0]);
    lb_input in;
    labse_error err;
    labse_status s = lb_input_read("-", &in, &err);
    dup2(saved, STDIN_FILENO);
    close(saved);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(s, LABSE_OK);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(in.mapped, 0);
    assert_int_equal(in.len, 300 * 1000 + 4);
    assert_int_equal(lb_lines_count(in.data, in.len), 301);
    assert_memory_equal(in.data + in.len - 4, "tail", 4);
    lb_input_free(&in);

    /* an empty stdin */
    int null_fd = open("/dev/null", O_RDONLY);
    assert_true(null_fd >= 0);
    saved = dup(STDIN_FILENO);
    dup2(null_fd, STDIN_FILENO);
    close(null_fd);
    s = lb_input_read("-", &in, &err);
    dup2(saved, STDIN_FILENO);
    close(saved);
    assert_int_equal(s, LABSE_OK);
    assert_int_equal(in.len, 0);
    assert_null(in.data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bytes_kept),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test_setup_teardown(test_read_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_compressed, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_read_errors, setup_dir, teardown_dir),
        cmocka_unit_test(test_read_stdin_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
