/* half_f16c.c — float32 -> float16 arrays on the x86 F16C instruction (vcvtps2ph, round to
 * nearest even), behind lb_f32_to_f16_array (half.h). The f16 output format converts every
 * row: the scalar lb_f32_to_f16 made `--format f16` cost more host CPU than f32's twice the
 * bytes (bench/RESULTS.md, "The host's feeding rate"). vcvtps2ph is IEEE binary16 conversion
 * under round-to-nearest-even, as lb_f32_to_f16 is, for every finite value and infinity
 * (subnormal results and overflow to inf included); NaNs differ in payload, so a block of 8
 * with a NaN goes through the scalar function: results are bit-identical to it for every
 * input (tests/test_pipeline.c, test_f16_array). Runs only when lb_half_have_f16c() says the
 * CPU and the OS allow AVX + F16C. */
#include "base/half.h"

#include <stdatomic.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>

static int detect_f16c(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx || !f16c) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0)); /* XCR0: the OS saves YMM */
    (void)hi;
    return (lo & 6u) == 6u;
}

__attribute__((target("avx,f16c"))) static void convert_f16c(const float *x, uint16_t *h,
                                                             size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) { /* a NaN: scalar */
            for (size_t k = i; k < i + 8; k++) h[k] = lb_f32_to_f16(x[k]);
            continue;
        }
        _mm_storeu_si128((__m128i *)(void *)(h + i),
                         _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) h[i] = lb_f32_to_f16(x[i]);
}
#else
static int detect_f16c(void) { return 0; }
static void convert_f16c(const float *x, uint16_t *h, size_t n) {
    for (size_t i = 0; i < n; i++) h[i] = lb_f32_to_f16(x[i]);
}
#endif

int lb_half_have_f16c(void) {
    static atomic_int have = -1; /* -1: not asked yet; racing first calls store the same value */
    int v = atomic_load_explicit(&have, memory_order_relaxed);
    if (v < 0) {
        v = detect_f16c();
        atomic_store_explicit(&have, v, memory_order_relaxed);
    }
    return v;
}

void lb_f32_to_f16_array(const float *x, uint16_t *h, size_t n) {
    if (lb_half_have_f16c()) {
        convert_f16c(x, h, n);
        return;
    }
    for (size_t i = 0; i < n; i++) h[i] = lb_f32_to_f16(x[i]);
}
