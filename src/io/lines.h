/* lines.h — input lines for the CLI (and later the streaming reader): read a whole file or
 * stdin into memory, and split a byte buffer into lines.
 *
 * Line rules (the same for `labse encode`, `labse tokenize` and `labse bench`):
 *   - lines are separated by '\n';
 *   - one '\r' directly before the '\n' is removed (CRLF files), and so is one '\r' that ends
 *     the buffer (a CRLF file whose last line lost its '\n'); a '\r' anywhere else is kept;
 *   - a last line without '\n' still counts; a buffer that ends with '\n' has no extra empty
 *     line after it;
 *   - empty lines count (they get their own row);
 *   - every other byte, NUL and invalid UTF-8 included, is kept as it is.
 * So: "" → 0 lines, "\n" → 1 empty line, "a" → 1, "a\n" → 1, "a\n\nb" → 3, "a\r\n" → "a".
 *
 * Not part of the public API (include/labse.h). Internal names start with lb_.
 */
#ifndef LB_LINES_H
#define LB_LINES_H

#include <stddef.h>

#include "labse.h"

/* ------------------------------------------------------------------------------------------
 * Whole input in memory
 * ------------------------------------------------------------------------------------------ */

/* The bytes of one input. `data` is read-only for the caller; it is NOT NUL-terminated
 * (it may contain NUL bytes anyway). A regular file is memory-mapped (constant heap memory
 * whatever its size); stdin, pipes and other non-regular files are read into a heap buffer,
 * and so are gzip, zstd and xz inputs (files or streams, known by their first bytes:
 * io/decomp.h), decompressed: `data` is then the decompressed text. */
typedef struct lb_input {
    const char *data;   /* len bytes; NULL when len == 0 */
    size_t len;         /* number of bytes */
    int mapped;         /* 1: data is an mmap of len bytes; 0: heap (or NULL) */
} lb_input;

/*
 * Read the whole of `path` into *out; "-" means standard input.
 *   path  NUL-terminated, not retained.
 *   out   filled on success (owned by the caller: release with lb_input_free()); zeroed on
 *         failure.
 * Errors: LABSE_E_IO with "PATH: strerror" (open/stat/read/mmap failed, PATH is a directory),
 *         LABSE_E_FORMAT for a corrupt or truncated compressed input,
 *         LABSE_E_NOMEM when a buffer for stdin cannot grow, LABSE_E_INVALID for NULL args.
 * Thread-safety: reentrant; reading "-" from two threads at once is the caller's problem.
 */
labse_status lb_input_read(const char *path, lb_input *out, labse_error *err);

/* Release what lb_input_read() gave (unmap or free) and zero *in. NULL or a zeroed struct is
 * a no-op. Thread-safety: reentrant (one owner per lb_input). */
void lb_input_free(lb_input *in);

/* ------------------------------------------------------------------------------------------
 * Splitting
 * ------------------------------------------------------------------------------------------ */

/* One line: a view into the buffer (no copy, no terminator). Valid while the buffer is. */
typedef struct lb_line {
    const char *ptr;    /* first byte (points into the buffer; for an empty line it still
                           points at a valid position of the buffer, never dereferenced) */
    size_t len;         /* bytes, without the '\n' and the removed '\r' */
} lb_line;

/* Number of lines in buf[0..len) by the rules above. buf may be NULL when len == 0.
 * Pure function; thread-safe. O(len) with memchr. */
size_t lb_lines_count(const char *buf, size_t len);

/* A cursor over the lines of a buffer. Plain struct, no allocation; one per thread. */
typedef struct lb_line_iter {
    const char *buf;
    size_t len;
    size_t pos;         /* offset of the next line's first byte; == len when done */
} lb_line_iter;

/* Start iterating buf[0..len) (buf may be NULL when len == 0). The buffer is not copied and
 * must outlive the iterator. */
void lb_line_iter_init(lb_line_iter *it, const char *buf, size_t len);

/* Store the next line in *line and return 1, or return 0 when there is none left.
 * Exactly lb_lines_count(buf, len) calls return 1. */
int lb_line_next(lb_line_iter *it, lb_line *line);

/*
 * Split all of buf[0..len) into a new array of lines.
 *   out  receives a malloc'ed array of *n lines (NULL when *n == 0); the caller frees it with
 *        free(). The lines point into buf. Untouched on failure.
 * Errors: LABSE_E_NOMEM, LABSE_E_INVALID (NULL out/n). Thread-safety: reentrant.
 */
labse_status lb_lines_split(const char *buf, size_t len, lb_line **out, size_t *n,
                            labse_error *err);

#endif
