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
/* b[n] -> 2n lower-case hex characters + NUL into hex[2n + 1] (any digest's hex; digest.h). */
void lb_hex_lower(const uint8_t *b, size_t n, char *hex);

/* The compression function of nblocks 64-byte blocks p[64 × nblocks] on the chaining state h,
 * two ways: the portable loop (sha256.c) and the x86 SHA extensions (sha256_shani.c; callable
 * only when lb_sha256_have_shani() says the CPU has them, a no-op elsewhere). k: the 64 round
 * constants (lb_sha256_k). lb_sha256_update picks one once per process; both are exposed
 * for the test that they agree (tests/test_pipeline.c). Reentrant. */
void lb_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblocks);
void lb_sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks, const uint32_t k[64]);
int lb_sha256_have_shani(void); /* 1: SHA-NI, SSSE3 and SSE4.1 present (cpuid) */
extern const uint32_t lb_sha256_k[64];

#endif
