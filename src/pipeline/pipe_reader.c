/* pipe_reader.c — the input side of the pipeline: a line reader over a byte range of a file
 * or over stdin, with large reads into one fixed buffer (constant memory whatever the line
 * lengths), the shard rule and the input fingerprint. See pipe_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipe_internal.h"
#include "base/sha256.h"
#include "io/decomp.h"

#define READ_CHUNK ((size_t)8 << 20) /* bytes per read() (lb_reader_open's default) */

/* ==========================================================================================
 * Small I/O helpers
 * ========================================================================================== */

ssize_t lb_pread_full(int fd, void *buf, size_t len, uint64_t off) {
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int lb_open_ro(const char *path) {
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

/* Count '\n' in [a, b) of fd. */
static labse_status count_newlines(int fd, uint64_t a, uint64_t b, const char *name,
                                   uint64_t *out, labse_error *err) {
    char *buf = malloc(READ_CHUNK);
    if (!buf) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    uint64_t n = 0;
    while (a < b) {
        size_t want = (b - a) < READ_CHUNK ? (size_t)(b - a) : READ_CHUNK;
        ssize_t r = lb_pread_full(fd, buf, want, a);
        if (r <= 0) {
            free(buf);
            return lb_err(err, LABSE_E_IO, "%s: read failed: %s", name,
                          r < 0 ? strerror(errno) : "file shrank while reading");
        }
        const char *p = buf, *e = buf + r;
        while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
            n++;
            p++;
        }
        a += (uint64_t)r;
    }
    free(buf);
    *out = n;
    return LABSE_OK;
}

/* The first line start at or after b (b = 0 → 0; none → size). */
static labse_status line_start_at(int fd, uint64_t size, uint64_t b, const char *name,
                                  uint64_t *out, labse_error *err) {
    if (b == 0 || b >= size) {
        *out = b == 0 ? 0 : size;
        return LABSE_OK;
    }
    char buf[65536];
    uint64_t pos = b - 1; /* look for the first '\n' at or after b-1 */
    for (;;) {
        ssize_t r = lb_pread_full(fd, buf, sizeof buf, pos);
        if (r < 0) return lb_err(err, LABSE_E_IO, "%s: read failed: %s", name, strerror(errno));
        if (r == 0) {
            *out = size;
            return LABSE_OK;
        }
        const char *nl = memchr(buf, '\n', (size_t)r);
        if (nl) {
            *out = pos + (uint64_t)(nl - buf) + 1;
            return LABSE_OK;
        }
        pos += (uint64_t)r;
    }
}

/* Advance from the line start *pos (global line *line) to the next line start whose index is
 * a multiple of align (or to size). */
static labse_status align_forward(int fd, uint64_t size, uint64_t align, const char *name,
                                  uint64_t *pos, uint64_t *line, labse_error *err) {
    if (align <= 1 || *pos >= size || *line % align == 0) return LABSE_OK;
    uint64_t need = align - *line % align; /* newlines to pass */
    char buf[65536];
    uint64_t p = *pos;
    while (need > 0) {
        ssize_t r = lb_pread_full(fd, buf, sizeof buf, p);
        if (r < 0) return lb_err(err, LABSE_E_IO, "%s: read failed: %s", name, strerror(errno));
        if (r == 0) { /* the last line has no '\n': it ends the file */
            *pos = size;
            *line += 1;
            return LABSE_OK;
        }
        const char *q = buf, *e = buf + r;
        while (need > 0 && (q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
            q++;
            need--;
            (*line)++;
        }
        if (need == 0) {
            p += (uint64_t)(q - buf);
            break;
        }
        p += (uint64_t)r;
    }
    *pos = p;
    return LABSE_OK;
}

labse_status lb_input_fingerprint(int fd, uint64_t size, const char *name, char hex[65],
                                  labse_error *err) {
    const size_t MB = (size_t)1 << 20;
    char *buf = malloc(MB);
    if (!buf) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    lb_sha256 c;
    lb_sha256_init(&c);
    char head[32];
    int hn = snprintf(head, sizeof head, "%llu\n", (unsigned long long)size);
    lb_sha256_update(&c, head, (size_t)hn);
    uint64_t offs[2] = {0, size > MB ? size - MB : 0};
    for (int k = 0; k < 2; k++) {
        size_t want = size < MB ? (size_t)size : MB;
        ssize_t r = lb_pread_full(fd, buf, want, offs[k]);
        if (r != (ssize_t)want) {
            free(buf);
            return lb_err(err, LABSE_E_IO, "%s: read failed: %s", name,
                          r < 0 ? strerror(errno) : "file shrank while reading");
        }
        lb_sha256_update(&c, buf, want);
    }
    free(buf);
    uint8_t d[32];
    lb_sha256_final(&c, d);
    lb_sha256_hex(d, hex);
    return LABSE_OK;
}

labse_status lb_input_range_sha256(const char *path, uint64_t start, uint64_t end,
                                   char hex[65], labse_error *err) {
    lb_range_hasher *h = NULL;
    labse_status s = lb_range_hasher_open(path, &h, err);
    if (s == LABSE_OK) s = lb_range_hasher_sha256(h, start, end, hex, err);
    lb_range_hasher_free(h);
    return s;
}

labse_status lb_parts_match_input(const char *dir, const lb_manifest *m, const char *input,
                                  const char *verb, labse_error *err) {
    lb_range_hasher *h = NULL;
    labse_status s = lb_parts_match_hasher(dir, m, input, &h, verb, err);
    lb_range_hasher_free(h);
    return s;
}

labse_status lb_parts_match_hasher(const char *dir, const lb_manifest *m, const char *input,
                                   lb_range_hasher **h, const char *verb, labse_error *err) {
    labse_status s = LABSE_OK;
    for (size_t i = 0; i < m->n_parts && s == LABSE_OK; i++) {
        const lb_manifest_part *p = &m->parts[i];
        if (!p->input_sha256[0]) continue; /* a stream's part: nothing to re-read */
        char hex[65];
        if (!*h && (s = lb_range_hasher_open(input, h, err)) != LABSE_OK) break;
        if ((s = lb_range_hasher_sha256(*h, p->byte_start, p->byte_end, hex, err)) != LABSE_OK)
            break;
        if (strcmp(hex, p->input_sha256) != 0)
            s = lb_err(err, LABSE_E_INVALID,
                       "%s: cannot %s: the input changed under part %zu (%s: bytes %" PRIu64
                       "..%" PRIu64 ", lines %" PRIu64 "..%" PRIu64
                       ") since it was encoded; use another folder or remove this one",
                       dir, verb, i, input, p->byte_start, p->byte_end, p->first_line,
                       p->first_line + p->rows);
    }
    return s;
}

labse_status lb_input_range_open(const char *path, int k, int n, uint64_t align,
                                 lb_input_range *r, labse_error *err) {
    memset(r, 0, sizeof *r);
    if (n < 1 || k < 0 || k >= n)
        return lb_err(err, LABSE_E_INVALID, "shard %d/%d: want 0 <= K < N", k, n);
    int is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : lb_open_ro(path);
    if (fd < 0) return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        if (!is_stdin) close(fd);
        return lb_err(err, LABSE_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        if (!is_stdin) close(fd);
        return lb_err(err, LABSE_E_IO, "%s: is a directory", path);
    }
    labse_status s = LABSE_OK;
    if (!S_ISREG(sb.st_mode) || is_stdin) {
        /* A stream (stdin is read as a stream even when it is a file: its offset may be
         * shared with a parent). */
        if (!is_stdin) close(fd);
        if (n != 1)
            return lb_err(err, LABSE_E_INVALID,
                          "%s: sharding needs a regular file (not stdin or a pipe)", path);
        r->is_file = 0;
        r->end = UINT64_MAX;
        return LABSE_OK;
    }
    uint64_t size = (uint64_t)sb.st_size;
    r->is_file = 1;
    r->file_size = size;
    r->data_size = size;
    r->comp = (int)lb_comp_of_file(fd);
    if (r->comp != LB_COMP_NONE) { /* ranges in decompressed bytes: see lb_zrange_open */
        if ((s = lb_zrange_open(fd, path, k, n, align, r, err)) != LABSE_OK) goto out;
        s = lb_input_fingerprint(fd, size, path, r->fingerprint, err);
        goto out;
    }
    uint64_t b0 = (uint64_t)((unsigned __int128)size * (unsigned)k / (unsigned)n);
    uint64_t b1 = (uint64_t)((unsigned __int128)size * (unsigned)(k + 1) / (unsigned)n);
    uint64_t nl = 0, end_line;
    /* start: first line start >= b0, counted, then aligned forward to a part boundary */
    if ((s = line_start_at(fd, size, b0, path, &r->start, err)) != LABSE_OK) goto out;
    if ((s = count_newlines(fd, 0, r->start, path, &r->line_start, err)) != LABSE_OK) goto out;
    if (n > 1 && (s = align_forward(fd, size, align, path, &r->start, &r->line_start, err)))
        goto out;
    /* end: the same rule for b1 (the next shard's start), counted from our start */
    if (k == n - 1) {
        r->end = size;
    } else {
        uint64_t e0;
        if ((s = line_start_at(fd, size, b1, path, &e0, err)) != LABSE_OK) goto out;
        if (e0 < r->start) e0 = r->start;
        if ((s = count_newlines(fd, r->start, e0, path, &nl, err)) != LABSE_OK) goto out;
        end_line = r->line_start + nl;
        r->end = e0;
        if ((s = align_forward(fd, size, align, path, &r->end, &end_line, err))) goto out;
    }
    if ((s = count_newlines(fd, r->start, r->end, path, &nl, err)) != LABSE_OK) goto out;
    r->lines = nl;
    if (r->end > r->start) { /* a last line without '\n' */
        char last;
        ssize_t got = lb_pread_full(fd, &last, 1, r->end - 1);
        if (got != 1) { /* 0: the file shrank since its size was taken */
            s = lb_err(err, LABSE_E_IO, "%s: read failed: %s", path,
                       got < 0 ? strerror(errno) : "the file shrank");
            goto out;
        }
        if (last != '\n') r->lines++;
    }
    s = lb_input_fingerprint(fd, size, path, r->fingerprint, err);
out:
    close(fd);
    return s;
}

/* ==========================================================================================
 * The line reader
 * ========================================================================================== */

struct lb_reader {
    int fd, own_fd, is_file;
    lb_dstream *z;       /* stdin, pipes and compressed files: read through it (decomp.h);
                            NULL: a plain regular file, read with pread */
    uint64_t skip;       /* z: decompressed bytes still to drop before `pos` (a resumed run
                            or a shard starting inside a compressed file) */
    char *name;
    uint64_t pos;        /* absolute offset of buf[fill] (the next byte to read) */
    uint64_t end;        /* stop reading here (UINT64_MAX: at the end of the input) */
    size_t line_cap;     /* LB_PIPE_LINE_CAP unless lb_reader_open_limits said otherwise */
    size_t chunk;        /* bytes per read: READ_CHUNK, idem */
    char *buf;           /* chunk + 2 × line_cap bytes: a capped line and one read */
    size_t start, fill;  /* unread lines are buf[start..fill) */
    uint64_t consumed;   /* absolute offset after the last line returned */
    int eof;             /* no more bytes to read */
    char *cap_buf;       /* line_cap bytes: the kept prefix of an over-long line
                            (allocated at the first one) */
    int hashing;         /* 1: every consumed byte goes into h (lb_reader_hash_parts) */
    lb_sha256 h;         /* bytes consumed since the last lb_reader_part_sha256 */
};

labse_status lb_reader_open(const char *path, uint64_t start, uint64_t end, lb_reader **out,
                            labse_error *err) {
    return lb_reader_open_limits(path, start, end, LB_PIPE_LINE_CAP, READ_CHUNK, out, err);
}

labse_status lb_reader_open_limits(const char *path, uint64_t start, uint64_t end,
                                   size_t line_cap, size_t read_chunk, lb_reader **out,
                                   labse_error *err) {
    if (line_cap < 1 || read_chunk < 1 || line_cap > SIZE_MAX / 4 ||
        read_chunk > SIZE_MAX / 2 - 2 * line_cap)
        return lb_err(err, LABSE_E_INVALID, "%s: line cap %zu or read size %zu out of range",
                      path, line_cap, read_chunk);
    lb_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->line_cap = line_cap;
        r->chunk = read_chunk;
    }
    if (!r || !(r->buf = malloc(read_chunk + 2 * line_cap)) || !(r->name = strdup(path))) {
        if (r) free(r->buf);
        free(r);
        return lb_err(err, LABSE_E_NOMEM, "out of memory for the input buffer");
    }
    labse_status s = LABSE_OK;
    if (strcmp(path, "-") == 0) {
        r->fd = STDIN_FILENO;
        if (start != 0) {
            lb_reader_free(r);
            return lb_err(err, LABSE_E_INVALID, "stdin cannot be read from an offset");
        }
    } else {
        r->fd = lb_open_ro(path);
        if (r->fd < 0) {
            int e = errno;
            lb_reader_free(r);
            return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(e));
        }
        r->own_fd = 1;
        struct stat sb;
        r->is_file = fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode);
        if (!r->is_file && start != 0) {
            lb_reader_free(r);
            return lb_err(err, LABSE_E_INVALID, "%s: not a regular file", path);
        }
#ifdef POSIX_FADV_SEQUENTIAL
        if (r->is_file) (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    }
    /* A stream, or a compressed file: through a decompressing stream (plain passes). */
    if (!r->is_file || lb_comp_of_file(r->fd) != LB_COMP_NONE) {
        s = lb_dstream_open(r->fd, path, &r->z, err);
        r->skip = start;
        r->is_file = 0;
    }
    if (s != LABSE_OK) {
        lb_reader_free(r);
        return s;
    }
    r->pos = r->consumed = start;
    r->end = end;
    *out = r;
    return LABSE_OK;
}

void lb_reader_free(lb_reader *r) {
    if (!r) return;
    lb_dstream_free(r->z);
    if (r->own_fd && r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->cap_buf);
    free(r->name);
    free(r);
}

uint64_t lb_reader_offset(const lb_reader *r) { return r->consumed; }

void lb_reader_hash_parts(lb_reader *r) {
    r->hashing = 1;
    lb_sha256_init(&r->h);
}

void lb_reader_part_sha256(lb_reader *r, char hex[65]) {
    uint8_t d[32];
    lb_sha256_final(&r->h, d);
    lb_sha256_hex(d, hex);
    lb_sha256_init(&r->h);
}

/* Mark n bytes at p as consumed (offset and, when hashing, the part hash). */
static void consume(lb_reader *r, const char *p, size_t n) {
    r->consumed += n;
    if (r->hashing) lb_sha256_update(&r->h, p, n);
}

/* Drop the first r->skip decompressed bytes (the kept parts of a resumed run, the shards
 * before this one): decompress and discard, into the line buffer. 0, or -1 on error. */
static int skip_prefix(lb_reader *r, labse_error *err) {
    while (r->skip > 0) {
        const size_t bufsize = r->chunk + 2 * r->line_cap;
        size_t want = r->skip < bufsize ? (size_t)r->skip : bufsize;
        ssize_t n = lb_dstream_read(r->z, r->buf, want, err);
        if (n < 0) return -1;
        if (n == 0) {
            lb_err(err, LABSE_E_IO, "%s: the input ended %" PRIu64 " bytes before the offset "
                   "to resume from (it changed?)", r->name, r->skip);
            return -1;
        }
        r->skip -= (uint64_t)n;
    }
    return 0;
}

/* Read more bytes after buf[fill] (compacting first). 1 got bytes, 0 EOF, -1 error. */
static int fill_more(lb_reader *r, labse_error *err) {
    if (r->eof) return 0;
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->fill - r->start);
        r->fill -= r->start;
        r->start = 0;
    }
    size_t room = r->chunk + 2 * r->line_cap - r->fill;
    if (room > r->chunk) room = r->chunk;
    if (r->end != UINT64_MAX) {
        if (r->pos >= r->end) {
            r->eof = 1;
            return 0;
        }
        if (r->end - r->pos < room) room = (size_t)(r->end - r->pos);
    }
    ssize_t n;
    if (r->z) {
        if (r->skip > 0 && skip_prefix(r, err) != 0) return -1;
        if ((n = lb_dstream_read(r->z, r->buf + r->fill, room, err)) < 0) return -1;
    } else {
        do {
            n = pread(r->fd, r->buf + r->fill, room, (off_t)r->pos);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            lb_err(err, LABSE_E_IO, "%s: read failed: %s", r->name, strerror(errno));
            return -1;
        }
    }
    if (n == 0) {
        r->eof = 1;
        return 0;
    }
    r->fill += (size_t)n;
    r->pos += (uint64_t)n;
    return 1;
}

/* Length to keep of an over-long line whose first `cap` bytes (the line cap) are p[0..cap)
 * (p[cap] is readable): back off to the last ASCII whitespace, else to a UTF-8 character
 * boundary — at most 3 bytes back and not before byte 0 (a character has at most 3
 * continuation bytes; a longer run of them is invalid UTF-8, cut anywhere: found by
 * tests/fuzz/fuzz_lines, which kept 0 bytes of a line of 0x90 bytes). */
static size_t cap_cut(const char *p, size_t cap) {
    static const char ws[] = " \t\r\v\f";
    const char *last = NULL; /* memrchr per character: SIMD scans instead of a byte loop */
    for (size_t k = 0; k < sizeof ws - 1; k++) {
        const char *q = memrchr(p, ws[k], cap);
        if (q && (!last || q > last)) last = q;
    }
    if (last) return (size_t)(last - p);
    size_t i = cap;
    size_t low = cap > 3 ? cap - 3 : 0; /* a test cap under 3: cap - 3 would wrap */
    while (i > low && ((unsigned char)p[i] & 0xC0) == 0x80) i--;
    return ((unsigned char)p[i] & 0xC0) == 0x80 ? cap : i;
}

/* Drop the rest of an over-long line, up to and including its '\n' (or to the end of the
 * input), so that r->consumed is the offset of the next line. 0, or -1 on a read error. */
static int skip_rest(lb_reader *r, labse_error *err) {
    for (;;) {
        char *s = r->buf + r->start;
        size_t avail = r->fill - r->start;
        char *nl = avail ? memchr(s, '\n', avail) : NULL;
        if (nl) {
            size_t k = (size_t)(nl - s) + 1;
            r->start += k;
            consume(r, s, k);
            return 0;
        }
        consume(r, s, avail);
        r->start = r->fill;
        int f = fill_more(r, err);
        if (f <= 0) return f;
    }
}

/* Return line s[0..n) (its '\r' already removed), cut when it is over the cap. */
static int give_line(const lb_reader *r, const char *s, size_t n, const char **p, size_t *len,
                     int *capped) {
    *p = s;
    *capped = n > r->line_cap;
    *len = *capped ? cap_cut(s, r->line_cap) : n;
    return 1;
}

int lb_reader_next(lb_reader *r, const char **p, size_t *len, int *capped, labse_error *err) {
    /* A line of exactly line_cap bytes may be followed by the '\r' of its CRLF: a line is
     * known to be over the cap only past max_raw bytes without a '\n'. */
    const size_t max_raw = r->line_cap + 1;
    for (;;) {
        char *s = r->buf + r->start;
        size_t avail = r->fill - r->start;
        char *nl = avail ? memchr(s, '\n', avail) : NULL;
        if (nl && (size_t)(nl - s) <= max_raw) {
            size_t n = (size_t)(nl - s);
            r->start += n + 1;
            consume(r, s, n + 1);
            if (n > 0 && s[n - 1] == '\r') n--;
            return give_line(r, s, n, p, len, capped);
        }
        if (avail > max_raw) { /* over-long: keep a prefix, skip the rest now */
            if (!r->cap_buf && !(r->cap_buf = malloc(r->line_cap))) {
                lb_err(err, LABSE_E_NOMEM, "%s: out of memory for an over-long line", r->name);
                return -1;
            }
            size_t keep = cap_cut(s, r->line_cap);
            memcpy(r->cap_buf, s, keep);
            r->start += r->line_cap;
            consume(r, s, r->line_cap);
            if (skip_rest(r, err) < 0) return -1;
            *p = r->cap_buf;
            *len = keep;
            *capped = 1;
            return 1;
        }
        int f = fill_more(r, err);
        if (f < 0) return -1;
        if (f == 0) {
            if (r->start == r->fill) return 0;
            /* The last line, without '\n' (at most max_raw bytes: see above). */
            s = r->buf + r->start;
            size_t n = r->fill - r->start;
            r->start = r->fill;
            consume(r, s, n);
            if (s[n - 1] == '\r') n--;
            return give_line(r, s, n, p, len, capped);
        }
    }
}
