/* sha256_shani.c — the SHA-256 compression function on the x86 SHA extensions (SHA-NI:
 * sha256rnds2, sha256msg1, sha256msg2), for sha256.c, which calls it when the CPU has them
 * (lb_sha256_have_shani) and its portable loop otherwise. Same results bit for bit
 * (tests/test_pipeline.c, test_sha256_paths). About 4.7x the portable loop (perf samples of
 * the same `labse encode --device null` run, where the portable one took 65% of the CPU
 * hashing the output: bench/RESULTS.md, issue 12 §7).
 *
 * Register layout, as the instructions want it: state0 = (A, B, E, F) and state1 =
 * (C, D, G, H), highest lane first; each sha256rnds2 does two rounds with the two low lanes
 * of its message + constant operand, so four rounds are rnds2, a shuffle of the high half
 * down, rnds2 again. The schedule keeps W[4g .. 4g+3] in w[g % 4]: msg1 prepares the word
 * group needed three groups later, alignr + add + msg2 finish it. */
#include "base/sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

int lb_sha256_have_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return ssse3 && sse41 && ((b >> 29) & 1); /* CPUID.(7,0):EBX bit 29: SHA */
}

__attribute__((target("sha,sse4.1,ssse3")))
void lb_sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks,
                            const uint32_t k[64]) {
    /* big-endian words: reverse the bytes of each 32-bit lane */
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);  /* D C B A */
    __m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)&h[4]); /* H G F E */
    t = _mm_shuffle_epi32(t, 0xB1);                /* C D A B */
    s1 = _mm_shuffle_epi32(s1, 0x1B);              /* E F G H */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);        /* A B E F */
    s1 = _mm_blend_epi16(s1, t, 0xF0);             /* C D G H */
    for (size_t blk = 0; blk < nblocks; blk++, p += 64) {
        const __m128i save0 = s0, save1 = s1;
        __m128i w[4];
        for (int g = 0; g < 16; g++) {
            if (g < 4)
                w[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)),
                                        bswap);
            __m128i m = _mm_add_epi32(w[g & 3],
                                      _mm_loadu_si128((const __m128i *)(const void *)(k + 4 * g)));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m);
            if (g >= 3 && g <= 14) { /* finish W of group g + 1 */
                __m128i x = _mm_alignr_epi8(w[g & 3], w[(g - 1) & 3], 4);
                w[(g + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(w[(g + 1) & 3], x), w[g & 3]);
            }
            m = _mm_shuffle_epi32(m, 0x0E);
            s0 = _mm_sha256rnds2_epu32(s0, s1, m);
            if (g >= 1 && g <= 12) /* start W of group g + 3 */
                w[(g - 1) & 3] = _mm_sha256msg1_epu32(w[(g - 1) & 3], w[g & 3]);
        }
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);               /* F E B A */
    s1 = _mm_shuffle_epi32(s1, 0xB1);              /* D C H G */
    s0 = _mm_blend_epi16(t, s1, 0xF0);             /* D C B A */
    s1 = _mm_alignr_epi8(s1, t, 8);                /* H G F E */
    _mm_storeu_si128((__m128i *)(void *)&h[0], s0);
    _mm_storeu_si128((__m128i *)(void *)&h[4], s1);
}

#else /* not x86-64: the portable loop only */

int lb_sha256_have_shani(void) { return 0; }

void lb_sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks,
                            const uint32_t k[64]) {
    (void)h;
    (void)p;
    (void)nblocks;
    (void)k;
}

#endif
