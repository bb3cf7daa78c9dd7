/* lines.c — read a whole input (file mmap, stdin, decompressed) and split it into lines.
 * See lines.h. */
#include "io/lines.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/common.h"
#include "io/decomp.h"

/* ==========================================================================================
 * Reading
 * ========================================================================================== */

/* Read fd to its end into a growing heap buffer, decompressed when it starts with a gzip,
 * zstd or xz magic number (io/decomp.h; plain bytes pass as they are). */
static labse_status read_fd_all(int fd, const char *name, lb_input *out, labse_error *err) {
    size_t cap = 0, len = 0;
    char *buf = NULL;
    lb_dstream *z = NULL;
    labse_status s = lb_dstream_open(fd, name, &z, err);
    if (s != LABSE_OK) return s;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : (size_t)1 << 16;
            char *nb = ncap < cap ? NULL : realloc(buf, ncap); /* ncap < cap: overflow */
            if (!nb) {
                free(buf);
                lb_dstream_free(z);
                return lb_err(err, LABSE_E_NOMEM, "%s: out of memory after %zu bytes", name, len);
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = lb_dstream_read(z, buf + len, cap - len, err); /* EINTR retried there */
        if (r < 0) {
            free(buf);
            lb_dstream_free(z);
            return err ? err->status : LABSE_E_IO;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    lb_dstream_free(z);
    if (len == 0) {
        free(buf);
        buf = NULL;
    }
    out->data = buf;
    out->len = len;
    out->mapped = 0;
    return LABSE_OK;
}

labse_status lb_input_read(const char *path, lb_input *out, labse_error *err) {
    if (!path || !out) return lb_err(err, LABSE_E_INVALID, "lb_input_read: NULL argument");
    memset(out, 0, sizeof *out);
    if (strcmp(path, "-") == 0) return read_fd_all(STDIN_FILENO, "<stdin>", out, err);

    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return lb_err(err, LABSE_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return lb_err(err, LABSE_E_IO, "%s: is a directory", path);
    }
    labse_status s;
    if (S_ISREG(st.st_mode) && lb_comp_of_file(fd) == LB_COMP_NONE) {
        if (st.st_size == 0) {
            close(fd);
            return LABSE_OK;
        }
        if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
            close(fd);
            return lb_err(err, LABSE_E_IO, "%s: file too large to map", path);
        }
        size_t len = (size_t)st.st_size;
        void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            /* Some file systems cannot mmap; fall back to reading. */
            s = read_fd_all(fd, path, out, err);
            close(fd);
            return s;
        }
        close(fd);
        (void)madvise(p, len, MADV_SEQUENTIAL);
        out->data = p;
        out->len = len;
        out->mapped = 1;
        return LABSE_OK;
    }
    /* A compressed file, a pipe, FIFO, character device, /proc file...: read it to its end. */
    s = read_fd_all(fd, path, out, err);
    close(fd);
    return s;
}

void lb_input_free(lb_input *in) {
    if (!in) return;
    if (in->data) {
        if (in->mapped)
            munmap((void *)in->data, in->len);
        else
            free((void *)in->data);
    }
    memset(in, 0, sizeof *in);
}

/* ==========================================================================================
 * Splitting
 * ========================================================================================== */

size_t lb_lines_count(const char *buf, size_t len) {
    if (!buf || len == 0) return 0;
    size_t n = 0;
    const char *p = buf, *end = buf + len;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) break;
        n++;
        p = nl + 1;
    }
    if (p < end) n++; /* last line without '\n' */
    return n;
}

void lb_line_iter_init(lb_line_iter *it, const char *buf, size_t len) {
    it->buf = buf;
    it->len = buf ? len : 0;
    it->pos = 0;
}

int lb_line_next(lb_line_iter *it, lb_line *line) {
    if (it->pos >= it->len) return 0;
    const char *start = it->buf + it->pos;
    size_t rest = it->len - it->pos;
    const char *nl = memchr(start, '\n', rest);
    size_t n;
    if (nl) {
        n = (size_t)(nl - start);
        it->pos += n + 1;
    } else {
        n = rest;
        it->pos = it->len;
    }
    if (n > 0 && start[n - 1] == '\r') n--;
    line->ptr = start;
    line->len = n;
    return 1;
}

labse_status lb_lines_split(const char *buf, size_t len, lb_line **out, size_t *n,
                            labse_error *err) {
    if (!out || !n) return lb_err(err, LABSE_E_INVALID, "lb_lines_split: NULL argument");
    size_t count = lb_lines_count(buf, len);
    lb_line *lines = NULL;
    if (count > 0) {
        if (count > SIZE_MAX / sizeof *lines)
            return lb_err(err, LABSE_E_NOMEM, "too many lines (%zu)", count);
        lines = malloc(count * sizeof *lines);
        if (!lines) return lb_err(err, LABSE_E_NOMEM, "out of memory for %zu lines", count);
        lb_line_iter it;
        lb_line_iter_init(&it, buf, len);
        size_t i = 0;
        while (i < count && lb_line_next(&it, &lines[i])) i++;
    }
    *out = lines;
    *n = count;
    return LABSE_OK;
}
