/* sha256.h — SHA-256 (FIPS 180-4), streaming. Used by the pipeline for the part checksums of
 * a manifest and the input fingerprint. Plain C, no allocation.
 *
 * Thread-safety: a context belongs to one thread; the functions are reentrant.
 * Not part of the public API. */
#ifndef LB_SHA256_H
#define LB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct lb_sha256 {
    uint32_t h[8];         /* chaining state */
    uint64_t bytes;        /* message length so far */
    uint8_t buf[64];       /* pending partial block */
    size_t nbuf;           /* bytes in buf (0..63) */
} lb_sha256;

void lb_sha256_init(lb_sha256 *c);
void lb_sha256_update(lb_sha256 *c, const void *data, size_t len);
/* Finish: digest[32]. The context must be re-initialised before reuse. */
void lb_sha256_final(lb_sha256 *c, uint8_t digest[32]);
/* digest[32] -> 64 lower-case hex characters + NUL into hex[65]. */
void lb_sha256_hex(const uint8_t digest[32], char hex[65]);

#endif
