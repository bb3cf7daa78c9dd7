/* decomp.c — gzip (zlib), zstd (libzstd) and xz (liblzma) streams over a file descriptor,
 * and plain text passed through. See decomp.h. */
#include "io/decomp.h"

#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "base/common.h"

#define IN_SIZE ((size_t)256 << 10)            /* compressed bytes per read() */
#define XZ_MEMLIMIT ((uint64_t)1 << 30)        /* liblzma's decoder memory cap */

struct lb_dstream {
    int fd;
    char *name;
    lb_comp comp;
    unsigned char *in;        /* [IN_SIZE] compressed (or plain) bytes read ahead */
    size_t in_pos, in_len;    /* unconsumed bytes are in[in_pos..in_len) */
    int in_eof;               /* read() returned 0 */
    int open_unit;            /* 1: inside a gzip member / zstd frame / xz stream */
    uint64_t out_total;       /* bytes given */
    z_stream z;               /* gzip */
    ZSTD_DStream *zs;         /* zstd */
    lzma_stream lz;           /* xz */
    int z_init, lz_init;
    int member_ended;         /* gzip: a member ended; reset before the next byte */
};

lb_comp lb_comp_detect(const unsigned char *p, size_t n) {
    static const unsigned char gz[] = {0x1f, 0x8b}, zst[] = {0x28, 0xb5, 0x2f, 0xfd},
                               xz[] = {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00};
    if (n >= sizeof gz && memcmp(p, gz, sizeof gz) == 0) return LB_COMP_GZIP;
    if (n >= sizeof zst && memcmp(p, zst, sizeof zst) == 0) return LB_COMP_ZSTD;
    if (n >= sizeof xz && memcmp(p, xz, sizeof xz) == 0) return LB_COMP_XZ;
    return LB_COMP_NONE;
}

lb_comp lb_comp_of_file(int fd) {
    unsigned char m[LB_COMP_MAGIC_MAX];
    ssize_t n;
    do {
        n = pread(fd, m, sizeof m, 0);
    } while (n < 0 && errno == EINTR);
    return n > 0 ? lb_comp_detect(m, (size_t)n) : LB_COMP_NONE;
}

const char *lb_comp_name(lb_comp c) {
    switch (c) {
    case LB_COMP_GZIP: return "gzip";
    case LB_COMP_ZSTD: return "zstd";
    case LB_COMP_XZ: return "xz";
    default: return "none";
    }
}

/* Read more compressed bytes after the unconsumed ones. 0, or -1 with err. */
static int refill(lb_dstream *d, labse_error *err) {
    if (d->in_pos > 0) {
        memmove(d->in, d->in + d->in_pos, d->in_len - d->in_pos);
        d->in_len -= d->in_pos;
        d->in_pos = 0;
    }
    while (!d->in_eof && d->in_len < IN_SIZE) {
        ssize_t r = read(d->fd, d->in + d->in_len, IN_SIZE - d->in_len);
        if (r < 0) {
            if (errno == EINTR) continue;
            lb_err(err, LABSE_E_IO, "%s: read failed: %s", d->name, strerror(errno));
            return -1;
        }
        if (r == 0) d->in_eof = 1;
        d->in_len += (size_t)r;
        break; /* one read() per refill: a pipe gives what it has */
    }
    return 0;
}

labse_status lb_dstream_open(int fd, const char *name, lb_dstream **out, labse_error *err) {
    *out = NULL;
    lb_dstream *d = calloc(1, sizeof *d);
    if (!d || !(d->in = malloc(IN_SIZE)) || !(d->name = strdup(name ? name : "<input>"))) {
        if (d) free(d->in);
        free(d);
        return lb_err(err, LABSE_E_NOMEM, "out of memory for a decompression buffer");
    }
    d->fd = fd;
    while (!d->in_eof && d->in_len < LB_COMP_MAGIC_MAX)
        if (refill(d, err) != 0) {
            lb_dstream_free(d);
            return LABSE_E_IO;
        }
    d->comp = lb_comp_detect(d->in, d->in_len);
    int ok = 1;
    if (d->comp == LB_COMP_GZIP) {
        ok = inflateInit2(&d->z, 15 + 32) == Z_OK; /* 32: a gzip or zlib header */
        d->z_init = ok;
    } else if (d->comp == LB_COMP_ZSTD) {
        ok = (d->zs = ZSTD_createDStream()) != NULL && !ZSTD_isError(ZSTD_initDStream(d->zs));
    } else if (d->comp == LB_COMP_XZ) {
        lzma_stream z0 = LZMA_STREAM_INIT;
        d->lz = z0;
        ok = lzma_stream_decoder(&d->lz, XZ_MEMLIMIT, LZMA_CONCATENATED) == LZMA_OK;
        d->lz_init = ok;
    }
    if (!ok) {
        lb_comp comp = d->comp;
        lb_dstream_free(d);
        return lb_err(err, LABSE_E_NOMEM, "%s: cannot start the %s decoder", name,
                      lb_comp_name(comp));
    }
    *out = d;
    return LABSE_OK;
}

lb_comp lb_dstream_comp(const lb_dstream *d) { return d->comp; }

uint64_t lb_dstream_tell(const lb_dstream *d) { return d->out_total; }

/* One decoder step over the buffered input into buf[0..cap): the bytes made (d->in_pos moves
 * past the compressed bytes consumed; xz gets LZMA_FINISH once the input ended). -1 on
 * corrupt or truncated data (err). */
static ssize_t step(lb_dstream *d, unsigned char *buf, size_t cap, labse_error *err) {
    unsigned char *src = d->in + d->in_pos;
    size_t avail = d->in_len - d->in_pos, made = 0, used = 0;
    if (d->comp == LB_COMP_GZIP) {
        if (avail > 0 && d->member_ended) { /* the next member */
            inflateReset(&d->z);
            d->member_ended = 0;
        }
        d->z.next_in = src;
        d->z.avail_in = (uInt)(avail > UINT32_MAX ? UINT32_MAX : avail);
        d->z.next_out = buf;
        d->z.avail_out = (uInt)(cap > UINT32_MAX ? UINT32_MAX : cap);
        uInt in0 = d->z.avail_in, out0 = d->z.avail_out;
        int r = inflate(&d->z, Z_NO_FLUSH);
        used = in0 - d->z.avail_in;
        made = out0 - d->z.avail_out;
        if (r == Z_STREAM_END) {
            d->open_unit = 0;
            d->member_ended = 1;
        } else if (r == Z_OK || r == Z_BUF_ERROR) {
            if (used > 0 || made > 0) d->open_unit = 1;
        } else {
            lb_err(err, LABSE_E_FORMAT, "%s: corrupt gzip data: %s", d->name,
                   d->z.msg ? d->z.msg : "inflate failed");
            return -1;
        }
    } else if (d->comp == LB_COMP_ZSTD) {
        ZSTD_inBuffer zi = {src, avail, 0};
        ZSTD_outBuffer zo = {buf, cap, 0};
        size_t r = ZSTD_decompressStream(d->zs, &zo, &zi);
        if (ZSTD_isError(r)) {
            lb_err(err, LABSE_E_FORMAT, "%s: corrupt zstd data: %s", d->name,
                   ZSTD_getErrorName(r));
            return -1;
        }
        used = zi.pos;
        made = zo.pos;
        d->open_unit = r != 0; /* 0: a frame ended and was flushed */
    } else {
        d->lz.next_in = src;
        d->lz.avail_in = avail;
        d->lz.next_out = buf;
        d->lz.avail_out = cap;
        lzma_ret r = lzma_code(&d->lz, d->in_eof ? LZMA_FINISH : LZMA_RUN);
        used = avail - d->lz.avail_in;
        made = cap - d->lz.avail_out;
        if (r == LZMA_STREAM_END) {
            d->open_unit = 0;
        } else if (r == LZMA_OK || (r == LZMA_BUF_ERROR && !d->in_eof)) {
            d->open_unit = 1;
        } else if (r == LZMA_BUF_ERROR) {
            lb_err(err, LABSE_E_FORMAT, "%s: truncated xz stream", d->name);
            return -1;
        } else {
            lb_err(err, r == LZMA_MEMLIMIT_ERROR || r == LZMA_MEM_ERROR ? LABSE_E_NOMEM
                                                                          : LABSE_E_FORMAT,
                   "%s: corrupt xz data (liblzma error %d)", d->name, (int)r);
            return -1;
        }
    }
    d->in_pos += used;
    return (ssize_t)made;
}

ssize_t lb_dstream_read(lb_dstream *d, void *buf, size_t cap, labse_error *err) {
    if (cap == 0) return 0;
    if (d->comp == LB_COMP_NONE) {
        if (d->in_pos < d->in_len) { /* the bytes read for detection */
            size_t n = d->in_len - d->in_pos < cap ? d->in_len - d->in_pos : cap;
            memcpy(buf, d->in + d->in_pos, n);
            d->in_pos += n;
            d->out_total += n;
            return (ssize_t)n;
        }
        while (!d->in_eof) {
            ssize_t r = read(d->fd, buf, cap);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) {
                lb_err(err, LABSE_E_IO, "%s: read failed: %s", d->name, strerror(errno));
                return -1;
            }
            if (r == 0) d->in_eof = 1;
            d->out_total += (uint64_t)r;
            return r;
        }
        return 0;
    }
    for (;;) {
        if (d->in_pos == d->in_len && !d->in_eof && refill(d, err) != 0) return -1;
        if (d->in_pos == d->in_len && d->in_eof && d->comp != LB_COMP_XZ) break;
        size_t p0 = d->in_pos;
        ssize_t m = step(d, buf, cap, err);
        if (m < 0) return -1;
        if (m > 0) {
            d->out_total += (uint64_t)m;
            return m;
        }
        if (d->in_pos == p0) { /* no progress: the decoder wants more input */
            if (d->in_eof) break;
            if (d->in_len - d->in_pos == IN_SIZE) {
                lb_err(err, LABSE_E_FORMAT, "%s: the %s decoder stalled", d->name,
                       lb_comp_name(d->comp));
                return -1;
            }
            if (refill(d, err) != 0) return -1;
        }
    }
    /* The compressed input ended: cleanly between members/frames/streams, or inside one. */
    if (d->open_unit) {
        lb_err(err, LABSE_E_FORMAT, "%s: truncated %s stream", d->name, lb_comp_name(d->comp));
        return -1;
    }
    return 0;
}

void lb_dstream_free(lb_dstream *d) {
    if (!d) return;
    if (d->z_init) inflateEnd(&d->z);
    if (d->zs) ZSTD_freeDStream(d->zs);
    if (d->lz_init) lzma_end(&d->lz);
    free(d->in);
    free(d->name);
    free(d);
}
