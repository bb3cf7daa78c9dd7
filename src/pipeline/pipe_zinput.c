/* pipe_zinput.c — a compressed input file seen as its decompressed bytes: the shard rule and
 * line counts (lb_zrange_open), and the sha256 of byte ranges that resume and merge check
 * (lb_range_hasher, for plain and compressed files alike). See pipe_internal.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/pipe_internal.h"
#include "base/sha256.h"
#include "io/decomp.h"

#define ZCHUNK ((size_t)4 << 20) /* decompressed bytes per step of a pass */

/* A fresh decompressing stream over the file open on fd, from its first byte. */
static labse_status zopen(int fd, const char *name, lb_dstream **z, labse_error *err) {
    if (lseek(fd, 0, SEEK_SET) != 0)
        return lb_err(err, LABSE_E_IO, "%s: cannot seek: %s", name, strerror(errno));
    return lb_dstream_open(fd, name, z, err);
}

/* The shard cut for nominal offset b in a scan: the first line start p >= b whose global
 * line index i is a multiple of align, or the end of the data (the plain rule of
 * lb_input_range_open, on decompressed bytes). */
typedef struct zcut {
    uint64_t b;        /* nominal offset */
    int found;
    uint64_t at, line; /* the cut and its line index */
} zcut;

static void zcut_try(zcut *c, uint64_t p, uint64_t i, uint64_t align) {
    if (!c->found && p >= c->b && (align <= 1 || i % align == 0)) {
        c->found = 1;
        c->at = p;
        c->line = i;
    }
}

labse_status lb_zrange_open(int fd, const char *name, int k, int n, uint64_t align,
                            lb_input_range *r, labse_error *err) {
    char *buf = malloc(ZCHUNK);
    if (!buf) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    lb_dstream *z = NULL;
    labse_status s = zopen(fd, name, &z, err);
    /* Pass 1: the decompressed size S and the line count L. */
    uint64_t S = 0, nl = 0;
    char last = '\n';
    while (s == LABSE_OK) {
        ssize_t got = lb_dstream_read(z, buf, ZCHUNK, err);
        if (got < 0) s = err ? err->status : LABSE_E_IO;
        if (got <= 0) break;
        for (const char *q = buf, *e = buf + got; (q = memchr(q, '\n', (size_t)(e - q))); q++)
            nl++;
        last = buf[got - 1];
        S += (uint64_t)got;
    }
    lb_dstream_free(z);
    z = NULL;
    uint64_t L = nl + (S > 0 && last != '\n');
    r->data_size = S;
    r->start = 0;
    r->end = S;
    r->line_start = 0;
    r->lines = L;
    if (s == LABSE_OK && n > 1) {
        /* Pass 2, up to the next shard's cut: the cuts of shard k by the plain rule. */
        zcut c0 = {(uint64_t)((unsigned __int128)S * (unsigned)k / (unsigned)n), 0, S, L};
        zcut c1 = {(uint64_t)((unsigned __int128)S * (unsigned)(k + 1) / (unsigned)n), 0, S, L};
        if (k == n - 1) c1.found = 1;
        uint64_t off = 0, line = 0;
        s = zopen(fd, name, &z, err);
        zcut_try(&c0, 0, 0, align);
        zcut_try(&c1, 0, 0, align);
        while (s == LABSE_OK && !(c0.found && c1.found)) {
            ssize_t got = lb_dstream_read(z, buf, ZCHUNK, err);
            if (got < 0) s = err ? err->status : LABSE_E_IO;
            if (got <= 0) break;
            for (const char *q = buf, *e = buf + got; (q = memchr(q, '\n', (size_t)(e - q)));) {
                q++;
                line++;
                uint64_t p = off + (uint64_t)(q - buf);
                if (p < S) { /* S itself is taken below, as the plain rule does */
                    zcut_try(&c0, p, line, align);
                    zcut_try(&c1, p, line, align);
                }
                if (c0.found && c1.found) break;
            }
            off += (uint64_t)got;
        }
        /* not found: the end of the data (already in c.at, c.line) */
        if (s == LABSE_OK && (!c0.found || !c1.found) && off != S)
            s = lb_err(err, LABSE_E_IO, "%s: the input changed while it was read", name);
        r->start = c0.at;
        r->line_start = c0.line;
        r->end = c1.at < c0.at ? c0.at : c1.at;
        r->lines = (c1.at < c0.at ? c0.line : c1.line) - c0.line;
    }
    lb_dstream_free(z);
    free(buf);
    return s;
}

/* ==========================================================================================
 * Range hashes
 * ========================================================================================== */

struct lb_range_hasher {
    int fd;
    char *name;
    lb_dstream *z;     /* compressed: a forward stream (reopened to go back) */
    char *buf;         /* ZCHUNK */
};

labse_status lb_range_hasher_open(const char *path, lb_range_hasher **out, labse_error *err) {
    *out = NULL;
    lb_range_hasher *h = calloc(1, sizeof *h);
    if (h) h->fd = -1;
    if (!h || !(h->buf = malloc(ZCHUNK)) || !(h->name = strdup(path))) {
        lb_range_hasher_free(h);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    if ((h->fd = lb_open_ro(path)) < 0) {
        int e = errno;
        lb_range_hasher_free(h);
        return lb_err(err, LABSE_E_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (lb_comp_of_file(h->fd) != LB_COMP_NONE) {
        labse_status s = zopen(h->fd, path, &h->z, err);
        if (s != LABSE_OK) {
            lb_range_hasher_free(h);
            return s;
        }
    }
    *out = h;
    return LABSE_OK;
}

labse_status lb_range_hasher_sha256(lb_range_hasher *h, uint64_t start, uint64_t end,
                                    char hex[65], labse_error *err) {
    lb_sha256 c;
    lb_sha256_init(&c);
    labse_status s = LABSE_OK;
    if (h->z && lb_dstream_tell(h->z) > start) { /* behind us: start again */
        lb_dstream_free(h->z);
        h->z = NULL;
        if ((s = zopen(h->fd, h->name, &h->z, err)) != LABSE_OK) return s;
    }
    for (uint64_t at = h->z ? lb_dstream_tell(h->z) : start; at < end && s == LABSE_OK;) {
        uint64_t lim = at < start ? start : end; /* skip up to start, then hash */
        size_t want = lim - at < ZCHUNK ? (size_t)(lim - at) : ZCHUNK;
        ssize_t r;
        if (h->z) {
            if ((r = lb_dstream_read(h->z, h->buf, want, err)) < 0)
                return err ? err->status : LABSE_E_IO;
        } else if ((r = lb_pread_full(h->fd, h->buf, want, at)) < 0) {
            return lb_err(err, LABSE_E_IO, "%s: read failed: %s", h->name, strerror(errno));
        }
        if (r == 0 || (!h->z && r != (ssize_t)want))
            return lb_err(err, LABSE_E_IO, "%s: read failed: the input is shorter than it was",
                          h->name);
        if (at >= start) lb_sha256_update(&c, h->buf, (size_t)r);
        at += (uint64_t)r;
    }
    uint8_t d[32];
    lb_sha256_final(&c, d);
    lb_sha256_hex(d, hex);
    return LABSE_OK;
}

void lb_range_hasher_free(lb_range_hasher *h) {
    if (!h) return;
    lb_dstream_free(h->z);
    if (h->fd >= 0) close(h->fd);
    free(h->buf);
    free(h->name);
    free(h);
}
