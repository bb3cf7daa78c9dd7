/* decomp.h — compressed input: a byte stream over a file descriptor that gives the
 * decompressed bytes of a gzip, zstd or xz stream, or the bytes as they are, chosen by the
 * stream's first bytes (magic numbers, not the file name):
 *   gzip  1f 8b            (zlib; several members back to back are read as one stream, as
 *                           gzip -d does)
 *   zstd  28 b5 2f fd      (libzstd; several frames likewise; skippable frames skipped)
 *   xz    fd 37 7a 58 5a 00 (liblzma, concatenated streams)
 * Anything else is plain text. Detection reads the first bytes with read(), so it works on
 * stdin and pipes: those bytes are given back first when the input is plain.
 *
 * Decompression runs on the calling thread (the pipeline's reader thread); memory: one
 * 256 KiB input buffer + the decoder's state (gzip 32 KiB window; zstd up to its frame's
 * window, capped by libzstd's default limit of 128 MiB; xz up to its dictionary, 64 MiB
 * at -9, limited to 1 GiB here).
 * Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_DECOMP_H
#define LB_DECOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "labse.h"

typedef enum lb_comp { LB_COMP_NONE = 0, LB_COMP_GZIP, LB_COMP_ZSTD, LB_COMP_XZ } lb_comp;

/* The format whose magic number starts p[0..n) (n may be short: then LB_COMP_NONE unless the
 * bytes there already decide). Pure; thread-safe. */
lb_comp lb_comp_detect(const unsigned char *p, size_t n);

/* "gzip", "zstd", "xz" or "none". Static string. */
const char *lb_comp_name(lb_comp c);

/* Bytes lb_comp_detect needs to see to decide (the longest magic). */
#define LB_COMP_MAGIC_MAX 6

/* The format of the regular file open on fd, from its first bytes (pread at offset 0: the
 * file offset does not move). LB_COMP_NONE also when they cannot be read. Reentrant. */
lb_comp lb_comp_of_file(int fd);

typedef struct lb_dstream lb_dstream;

/*
 * Start a stream over fd, which is read sequentially from its current offset with read()
 * (not closed by the stream; the caller keeps owning it). `name` (copied) names the input in
 * messages. The first bytes are read now to detect the format.
 * Errors: LABSE_E_IO ("NAME: read failed: ..."), LABSE_E_NOMEM, LABSE_E_FORMAT (the decoder
 * refused to start). *out is owned by the caller: lb_dstream_free().
 * Thread-safety: one stream belongs to one thread at a time.
 */
labse_status lb_dstream_open(int fd, const char *name, lb_dstream **out, labse_error *err);

/* The format detected. */
lb_comp lb_dstream_comp(const lb_dstream *d);

/* Up to cap decompressed bytes into buf: the count (> 0), 0 at the end of the input, or -1
 * with err filled: LABSE_E_IO (read failed), LABSE_E_FORMAT ("NAME: corrupt gzip data: ..."
 * or "NAME: truncated zstd stream": the compressed input ended inside a frame). */
ssize_t lb_dstream_read(lb_dstream *d, void *buf, size_t cap, labse_error *err);

/* Decompressed bytes given so far. */
uint64_t lb_dstream_tell(const lb_dstream *d);

/* Release the decoder and buffers (not the fd). NULL is a no-op. */
void lb_dstream_free(lb_dstream *d);

#endif
