/* sha256.c — SHA-256 per FIPS 180-4 (see sha256.h). Written from the specification: message
 * schedule of 64 words, 64 rounds, big-endian words, padding 0x80, zeros, 64-bit length. */
#include "base/sha256.h"

#include <string.h>

const uint32_t lb_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define K lb_sha256_k

static inline uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* Process one 64-byte block. */
static void block(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ror(e, 6) ^ ror(e, 11) ^ ror(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + K[i] + w[i];
        uint32_t S0 = ror(a, 2) ^ ror(a, 13) ^ ror(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        hh = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void lb_sha256_blocks_portable(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    for (size_t i = 0; i < nblocks; i++) block(h, p + 64 * i);
}

/* nblocks blocks on the fastest path of this CPU (decided once; a race on the first calls
 * only decides it twice, the same way). */
static void blocks(uint32_t h[8], const uint8_t *p, size_t nblocks) {
    static int path = -1; /* -1 unknown, 0 portable, 1 SHA-NI */
    int q = __atomic_load_n(&path, __ATOMIC_RELAXED);
    if (q < 0) {
        q = lb_sha256_have_shani();
        __atomic_store_n(&path, q, __ATOMIC_RELAXED);
    }
    if (q)
        lb_sha256_blocks_shani(h, p, nblocks, lb_sha256_k);
    else
        lb_sha256_blocks_portable(h, p, nblocks);
}

void lb_sha256_init(lb_sha256 *c) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->bytes = 0;
    c->nbuf = 0;
}

void lb_sha256_update(lb_sha256 *c, const void *data, size_t len) {
    const uint8_t *p = data;
    c->bytes += len;
    if (c->nbuf) {
        size_t take = 64 - c->nbuf < len ? 64 - c->nbuf : len;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        len -= take;
        if (c->nbuf < 64) return;
        blocks(c->h, c->buf, 1);
        c->nbuf = 0;
    }
    if (len >= 64) {
        blocks(c->h, p, len / 64);
        p += len / 64 * 64;
        len %= 64;
    }
    if (len) {
        memcpy(c->buf, p, len);
        c->nbuf = len;
    }
}

void lb_sha256_final(lb_sha256 *c, uint8_t digest[32]) {
    uint64_t bits = c->bytes * 8;
    uint8_t pad[72];
    size_t padlen = (c->nbuf < 56) ? 56 - c->nbuf : 120 - c->nbuf;
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    lb_sha256_update(c, pad, padlen);
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    lb_sha256_update(c, lenb, 8);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(c->h[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        digest[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void lb_hex_lower(const uint8_t *b, size_t n, char *hex) {
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = x[b[i] >> 4];
        hex[2 * i + 1] = x[b[i] & 15];
    }
    hex[2 * n] = '\0';
}

void lb_sha256_hex(const uint8_t digest[32], char hex[65]) { lb_hex_lower(digest, 32, hex); }
