/* digest.c — SHA-256 or XXH3-128 behind one streaming interface (digest.h). */
#include "base/digest.h"

#include <string.h>
#include <xxhash.h>
#if defined(__x86_64__) || defined(__i386__)
/* Debian's libxxhash picks SSE2/AVX2/AVX-512 at run time only through its *_dispatch entry
 * points; this header renames XXH3_128bits_update to them (the plain one is SSE2: measured
 * 6.7% of a --device null run's CPU before, bench/RESULTS.md). */
#include <xxh_x86dispatch.h>
#endif

int lb_digest_init(lb_digest *d, lb_digest_kind k) {
    memset(d, 0, sizeof *d);
    if (k == LB_DIGEST_SHA256) {
        lb_sha256_init(&d->sha);
    } else if (k == LB_DIGEST_XXH128) {
        XXH3_state_t *s = XXH3_createState();
        if (!s || XXH3_128bits_reset(s) != XXH_OK) {
            XXH3_freeState(s);
            return -1;
        }
        d->xxh = s;
    }
    d->kind = k;
    return 0;
}

void lb_digest_update(lb_digest *d, const void *data, size_t len) {
    if (!len) return;
    if (d->kind == LB_DIGEST_SHA256) lb_sha256_update(&d->sha, data, len);
    else if (d->kind == LB_DIGEST_XXH128) (void)XXH3_128bits_update(d->xxh, data, len);
}

void lb_digest_final_hex(lb_digest *d, char hex[65]) {
    hex[0] = '\0';
    if (d->kind == LB_DIGEST_SHA256) {
        uint8_t b[32];
        lb_sha256_final(&d->sha, b);
        lb_sha256_hex(b, hex);
    } else if (d->kind == LB_DIGEST_XXH128) {
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, XXH3_128bits_digest(d->xxh));
        lb_hex_lower(c.digest, sizeof c.digest, hex); /* 16 bytes, big-endian: 32 digits */
    }
    lb_digest_drop(d);
}

void lb_digest_drop(lb_digest *d) {
    if (!d) return;
    if (d->kind == LB_DIGEST_XXH128) XXH3_freeState(d->xxh);
    d->xxh = NULL;
    d->kind = LB_DIGEST_NONE;
}

const char *lb_digest_name(lb_digest_kind k) {
    return k == LB_DIGEST_SHA256 ? "sha256" : k == LB_DIGEST_XXH128 ? "xxh128" : "";
}

size_t lb_digest_hex_len(lb_digest_kind k) {
    return k == LB_DIGEST_SHA256 ? 64 : k == LB_DIGEST_XXH128 ? 32 : 0;
}
