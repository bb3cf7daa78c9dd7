/* digest.h — the checksum of a written file, streaming, of one of two kinds: SHA-256
 * (sha256.h; the part files of manifests written before 2026-12) or XXH3-128 (Debian's
 * libxxhash; the part files written since: ~10× cheaper per byte than SHA-256 with the SHA
 * extensions, and a part is a torn-write / bit-rot check, not a signature; bench/RESULTS.md,
 * "The host's feeding rate"). Hex: SHA-256 as `sha256sum` prints it (64 digits), XXH3-128 as
 * `xxh128sum` prints it (32 digits, the canonical big-endian form).
 *
 * Thread-safety: a context belongs to one thread; the functions are reentrant.
 * Not part of the public API. */
#ifndef LB_DIGEST_H
#define LB_DIGEST_H

#include <stddef.h>

#include "base/sha256.h"

typedef enum lb_digest_kind {
    LB_DIGEST_NONE = 0, /* no checksum: update is a no-op, the hex is "" */
    LB_DIGEST_SHA256,
    LB_DIGEST_XXH128
} lb_digest_kind;

typedef struct lb_digest {
    lb_digest_kind kind;
    lb_sha256 sha;
    void *xxh; /* XXH3_state_t (heap: its layout belongs to the shared library) */
} lb_digest;

/* Start a digest of kind k. 0, or -1 when the XXH3 state cannot be allocated (d is then of
 * kind NONE and needs no lb_digest_drop). */
int lb_digest_init(lb_digest *d, lb_digest_kind k);
/* Add len bytes of data (may be NULL when len is 0). */
void lb_digest_update(lb_digest *d, const void *data, size_t len);
/* Finish: hex[65] receives the lower-case hex (64 digits SHA-256, 32 XXH3-128, "" NONE); frees
 * d's state (re-init before reuse). */
void lb_digest_final_hex(lb_digest *d, char hex[65]);
/* Abandon d without a result; frees its state. NULL or a NONE digest: no-op. */
void lb_digest_drop(lb_digest *d);
/* The manifest field name of kind k: "sha256", "xxh128" ("" for NONE); and the hex length. */
const char *lb_digest_name(lb_digest_kind k);
size_t lb_digest_hex_len(lb_digest_kind k);

#endif
