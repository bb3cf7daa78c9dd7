/* cuda_emu_device.h — CUDA device built-ins for kernels compiled as C++17 over the emulator
 * (included by cuda_emu.h in C++). Thread indices, __shared__, barriers, warp collectives,
 * atomics, math intrinsics, vector types, __half/__half2, FP8 E4M3 (emu_fp8.h), nvcuda::wmma, mma.sync / ldmatrix /
 * cp.async (emu_mma.h, for kernels/mma.cuh), and the launcher.
 *
 * Execution: a block's threads are cooperative fibers on one OS thread; they switch only inside
 * a barrier or a warp-collective op (__syncthreads, __syncwarp, __shfl_*, votes, wmma_*).
 * __shared__ is `static thread_local`: one copy per OS thread, shared by the block running
 * there. Warp collectives need the full mask and a whole, converged warp (else: abort).
 * wmma fragments: EVERY LANE HOLDS THE WHOLE TILE (num_elements = rows*cols); kernels may apply
 * uniform element-wise ops to x[] but must not assume the GPU's element-to-lane mapping (mma and
 * store abort when the lanes' fragments differ).
 * No preemption: a thread that spins on a value written by another thread or block without a
 * barrier in between never sees it (hangs). Static __shared__ arrays keep the previous block's
 * values (dynamic shared memory is poisoned with 0xFF per block). Threads run in index order
 * between barriers; LABSE_EMU_SCHEDULE=reverse runs them in reverse, random:SEED in a fresh
 * random order per pass (to expose missing barriers); LABSE_EMU_RACECHECK=1 reports them
 * (emu_race.cpp). Code here that a warp runs on behalf of all its lanes (atomics, wmma) is
 * LB_EMU_UNCHECKED: the race checker does not see it as the calling thread's access.
 */
#ifndef LB_CUDA_EMU_DEVICE_H
#define LB_CUDA_EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- qualifiers ---- */
/* Emulator helpers whose memory accesses the race checker must not see as the calling
 * thread's (atomics; warp-wide wmma ops, recorded once as the warp's: lb_emu_race_tile). */
#define LB_EMU_UNCHECKED __attribute__((no_sanitize_thread))
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#define __shared__ static thread_local
#define __constant__ static
#define __managed__

/* ---- vector types (alignment as CUDA) ---- */
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
struct alignas(4) ushort2 { unsigned short x, y; };
static inline int2 make_int2(int x, int y) { return int2{x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return int4{x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return uint2{x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return uint4{x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return float2{x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }
static inline uint3 make_uint3(unsigned x, unsigned y, unsigned z) { return uint3{x, y, z}; }
static inline dim3 make_dim3(unsigned x, unsigned y, unsigned z) { return dim3(x, y, z); }

/* ---- thread indices: set by the scheduler (per OS thread; threadIdx at every fiber switch) ---- */
extern __thread uint3 lb_emu_threadIdx, lb_emu_blockIdx, lb_emu_blockDim, lb_emu_gridDim;
#define threadIdx lb_emu_threadIdx
#define blockIdx lb_emu_blockIdx
#define blockDim lb_emu_blockDim
#define gridDim lb_emu_gridDim
static constexpr int warpSize = 32;

/* ---- the runtime side (emu_launch.cpp) ---- */
enum lb_emu_wop { LB_EMU_SYNCWARP = 1, LB_EMU_SHFL, LB_EMU_VOTE, LB_EMU_WMMA };
void lb_emu_syncthreads(void);
int lb_emu_syncthreads_count(int pred); /* barrier + number of threads with pred != 0 */
/* Warp collective: deposit `val` (8 bytes) in this lane's slot, wait for the whole warp;
 * returns the warp's 32 deposited slots (valid until the lane's next collective op). */
const uint64_t *lb_emu_warp_exchange(unsigned mask, uint64_t val, int op, const char *what);
/* Warp barrier; each lane deposits `arg`; the last lane to arrive runs fn(args) (the 32 lanes'
 * args, by lane) before any lane continues. fn may be null. */
void lb_emu_warp_sync_do(unsigned mask, int op, const char *what, void (*fn)(void *const *args), void *arg);
[[noreturn]] void lb_emu_device_abort(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
unsigned lb_emu_activemask(void);
void *lb_emu_dynamic_smem(void);
/* Race checker (emu_race.cpp): a warp-wide access of `rows` runs of `row_bytes` bytes, `stride`
 * bytes apart, as the current warp's (a no-op unless LABSE_EMU_RACECHECK is on). */
void lb_emu_race_tile(const void *p, unsigned rows, size_t row_bytes, size_t stride, int write);
/* Race checker: n bytes at p accessed by the calling thread, for emulator models whose own
 * accesses are not instrumented (LB_EMU_UNCHECKED, memcpy): cp.async, ldmatrix (emu_mma.h). */
void lb_emu_race_access(const void *p, size_t n, int write);

static inline void __syncthreads() { lb_emu_syncthreads(); }
static inline int __syncthreads_count(int p) { return lb_emu_syncthreads_count(p); }
static inline int __syncthreads_and(int p) {
    return lb_emu_syncthreads_count(p) == (int)(blockDim.x * blockDim.y * blockDim.z);
}
static inline int __syncthreads_or(int p) { return lb_emu_syncthreads_count(p) != 0; }
static inline void __syncwarp(unsigned mask = 0xffffffffu) {
    lb_emu_warp_sync_do(mask, LB_EMU_SYNCWARP, "__syncwarp", nullptr, nullptr);
}
static inline unsigned __activemask() { return lb_emu_activemask(); }
LB_EMU_UNCHECKED static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <class T> static inline T __ldg(const T *p) { return *p; }

/* ---- warp shuffles and votes (lane = linear thread index % 32; width as CUDA) ---- */
namespace lb_emu {
static inline unsigned lane_id() {
    return (threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z)) & 31u;
}
template <class T> static inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle: 8-byte POD");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof(T));
    return b;
}
template <class T> static inline T from_bits(uint64_t b) {
    T v;
    memcpy(&v, &b, sizeof(T));
    return v;
}
static inline void check_width(int width, const char *what) {
    if (width < 1 || width > 32 || (width & (width - 1)))
        lb_emu_device_abort("%s: width %d is not a power of two in 1..32", what, width);
}
} // namespace lb_emu

template <class T> static inline T __shfl_sync(unsigned mask, T var, int srcLane, int width = warpSize) {
    lb_emu::check_width(width, "__shfl_sync");
    unsigned lane = lb_emu::lane_id(), base = lane & ~(unsigned)(width - 1);
    const uint64_t *s = lb_emu_warp_exchange(mask, lb_emu::to_bits(var), LB_EMU_SHFL, "__shfl_sync");
    return lb_emu::from_bits<T>(s[base + ((unsigned)srcLane & (unsigned)(width - 1))]);
}
template <class T> static inline T __shfl_xor_sync(unsigned mask, T var, int laneMask, int width = warpSize) {
    lb_emu::check_width(width, "__shfl_xor_sync");
    unsigned lane = lb_emu::lane_id(), src = lane ^ (unsigned)laneMask;
    const uint64_t *s = lb_emu_warp_exchange(mask, lb_emu::to_bits(var), LB_EMU_SHFL, "__shfl_xor_sync");
    if (src >= ((lane & ~(unsigned)(width - 1)) + (unsigned)width)) src = lane;
    return lb_emu::from_bits<T>(s[src & 31u]);
}
template <class T> static inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    lb_emu::check_width(width, "__shfl_down_sync");
    unsigned lane = lb_emu::lane_id(), src = lane + delta;
    const uint64_t *s = lb_emu_warp_exchange(mask, lb_emu::to_bits(var), LB_EMU_SHFL, "__shfl_down_sync");
    if (src >= (lane & ~(unsigned)(width - 1)) + (unsigned)width) src = lane;
    return lb_emu::from_bits<T>(s[src]);
}
template <class T> static inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize) {
    lb_emu::check_width(width, "__shfl_up_sync");
    unsigned lane = lb_emu::lane_id();
    const uint64_t *s = lb_emu_warp_exchange(mask, lb_emu::to_bits(var), LB_EMU_SHFL, "__shfl_up_sync");
    int src = (int)lane - (int)delta;
    if (src < (int)(lane & ~(unsigned)(width - 1))) src = (int)lane;
    return lb_emu::from_bits<T>(s[src]);
}
static inline unsigned __ballot_sync(unsigned mask, int pred) {
    const uint64_t *s = lb_emu_warp_exchange(mask, pred != 0, LB_EMU_VOTE, "__ballot_sync");
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= (unsigned)(s[i] & 1u) << i;
    return r;
}
static inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
static inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == 0xffffffffu; }

/* ---- atomics (real atomics: blocks run in parallel on several OS threads; not instrumented
 * for the race checker: atomics are never hazards) ---- */
namespace lb_emu {
template <class T, class F> LB_EMU_UNCHECKED static inline T atomic_update(T *addr, F f) {
    using U = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    static_assert(sizeof(T) == sizeof(U), "atomic size");
    U *p = (U *)(void *)addr;
    U old = __atomic_load_n(p, __ATOMIC_RELAXED), nw;
    T o;
    do {
        memcpy(&o, &old, sizeof(T));
        T n = f(o);
        memcpy(&nw, &n, sizeof(T));
    } while (!__atomic_compare_exchange_n(p, &old, nw, true, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return o;
}
} // namespace lb_emu
LB_EMU_UNCHECKED static inline int atomicAdd(int *a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned atomicAdd(unsigned *a, unsigned v) { return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned long long atomicAdd(unsigned long long *a, unsigned long long v) {
    return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);
}
LB_EMU_UNCHECKED static inline float atomicAdd(float *a, float v) {
    return lb_emu::atomic_update(a, [v](float o) { return o + v; });
}
LB_EMU_UNCHECKED static inline double atomicAdd(double *a, double v) {
    return lb_emu::atomic_update(a, [v](double o) { return o + v; });
}
LB_EMU_UNCHECKED static inline int atomicSub(int *a, int v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned atomicSub(unsigned *a, unsigned v) { return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline int atomicMax(int *a, int v) {
    return lb_emu::atomic_update(a, [v](int o) { return o > v ? o : v; });
}
LB_EMU_UNCHECKED static inline unsigned atomicMax(unsigned *a, unsigned v) {
    return lb_emu::atomic_update(a, [v](unsigned o) { return o > v ? o : v; });
}
LB_EMU_UNCHECKED static inline int atomicMin(int *a, int v) {
    return lb_emu::atomic_update(a, [v](int o) { return o < v ? o : v; });
}
LB_EMU_UNCHECKED static inline unsigned atomicMin(unsigned *a, unsigned v) {
    return lb_emu::atomic_update(a, [v](unsigned o) { return o < v ? o : v; });
}
LB_EMU_UNCHECKED static inline int atomicOr(int *a, int v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned atomicOr(unsigned *a, unsigned v) { return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline int atomicAnd(int *a, int v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned atomicAnd(unsigned *a, unsigned v) { return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST); }
template <class T> LB_EMU_UNCHECKED static inline T lb_emu_cas(T *a, T cmp, T v) {
    __atomic_compare_exchange_n(a, &cmp, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return cmp; /* the old value either way */
}
LB_EMU_UNCHECKED static inline int atomicCAS(int *a, int c, int v) { return lb_emu_cas(a, c, v); }
LB_EMU_UNCHECKED static inline unsigned atomicCAS(unsigned *a, unsigned c, unsigned v) { return lb_emu_cas(a, c, v); }
LB_EMU_UNCHECKED static inline unsigned long long atomicCAS(unsigned long long *a, unsigned long long c, unsigned long long v) {
    return lb_emu_cas(a, c, v);
}
LB_EMU_UNCHECKED static inline int atomicExch(int *a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned atomicExch(unsigned *a, unsigned v) { return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST); }
LB_EMU_UNCHECKED static inline unsigned long long atomicExch(unsigned long long *a, unsigned long long v) {
    return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);
}
LB_EMU_UNCHECKED static inline float atomicExch(float *a, float v) {
    return lb_emu::atomic_update(a, [v](float) { return v; });
}

/* ---- math (fast intrinsics are the accurate functions here) ---- */
#ifndef INFINITY
#define INFINITY (__builtin_inff())
#endif
#ifndef CUDART_INF_F
#define CUDART_INF_F (__builtin_inff())
#endif
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
#define __expf lb_emu__expf /* glibc declares __expf itself */
static inline float lb_emu__expf(float x) { return expf(x); }
#define __exp10f lb_emu__exp10f /* glibc declares __exp10f itself */
static inline float lb_emu__exp10f(float x) { return exp10f(x); }
#define __logf lb_emu__logf /* glibc declares __logf itself */
static inline float lb_emu__logf(float x) { return logf(x); }
#define __log2f lb_emu__log2f /* glibc declares __log2f itself */
static inline float lb_emu__log2f(float x) { return log2f(x); }
#define __log10f lb_emu__log10f /* glibc declares __log10f itself */
static inline float lb_emu__log10f(float x) { return log10f(x); }
#define __powf lb_emu__powf /* glibc declares __powf itself */
static inline float lb_emu__powf(float x, float y) { return powf(x, y); }
#define __sinf lb_emu__sinf /* glibc declares __sinf itself */
static inline float lb_emu__sinf(float x) { return sinf(x); }
#define __cosf lb_emu__cosf /* glibc declares __cosf itself */
static inline float lb_emu__cosf(float x) { return cosf(x); }
#define __tanf lb_emu__tanf /* glibc declares __tanf itself */
static inline float lb_emu__tanf(float x) { return tanf(x); }
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __saturatef(float x) { return x > 1.0f ? 1.0f : (x >= 0.0f ? x : 0.0f); } /* NaN → 0 */
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline unsigned __float_as_uint(float x) { unsigned i; memcpy(&i, &x, 4); return i; }
static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
static inline float __uint_as_float(unsigned i) { float x; memcpy(&x, &i, 4); return x; }
static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
static inline long long min(long long a, long long b) { return a < b ? a : b; }
static inline long long max(long long a, long long b) { return a > b ? a : b; }
static inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
static inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }
static inline unsigned min(int a, unsigned b) { return min((unsigned)a, b); }
static inline unsigned min(unsigned a, int b) { return min(a, (unsigned)b); }
static inline unsigned max(int a, unsigned b) { return max((unsigned)a, b); }
static inline unsigned max(unsigned a, int b) { return max(a, (unsigned)b); }

/* ---- __half / __half2: IEEE binary16 bits; arithmetic in float (double for fma), one
 * round-to-nearest-even per operation, as the GPU does. ---- */
namespace lb_emu {
static inline float h2f(uint16_t h) {
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu, b;
    if (e == 0x1f) b = s | 0x7f800000u | (m << 13);            /* inf / NaN */
    else if (e) b = s | ((e + 112u) << 23) | (m << 13);        /* normal */
    else if (!m) b = s;                                        /* ±0 */
    else {                                                     /* subnormal: m * 2^-24 */
        float f = (float)m * 5.9604644775390625e-8f;
        memcpy(&b, &f, 4);
        b |= s;
    }
    float f;
    memcpy(&f, &b, 4);
    return f;
}
static inline uint16_t f2h(float f) { /* round to nearest even; overflow → inf; NaN kept quiet */
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t s = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t a = x & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(s | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(s | 0x7c00u); /* >= 65520 (and inf) → inf */
    if (a >= 0x38800000u) { /* normal half: exponent >= -14 */
        uint32_t r = a - 0x38000000u; /* rebias 127 → 15 (in the float layout) */
        uint32_t h = r >> 13, rem = r & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
        return (uint16_t)(s | h);
    }
    if (a < 0x33000000u) return s; /* < 2^-25: rounds to 0 (2^-25 exactly is a tie → 0) */
    /* subnormal half: value = a_float; half units of 2^-24 */
    uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u;
    uint32_t shift = 126u - e; /* m * 2^(e-150) / 2^-24 = m >> (126 - e) */
    uint32_t h = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(s | h);
}
/* double → half, rounded once: round to odd into float, then to nearest even (24 >= 11 + 2). */
static inline uint16_t d2h(double d) {
    float f = (float)d;
    if ((double)f != d && !std::isinf(f) && !std::isnan(f)) {
        uint32_t b;
        memcpy(&b, &f, 4);
        if (std::fabs((double)f) > std::fabs(d)) b--; /* toward zero */
        b |= 1u;                                      /* sticky */
        memcpy(&f, &b, 4);
    }
    return f2h(f);
}
} // namespace lb_emu

struct __half_raw { unsigned short x; };
struct __half2_raw { unsigned short x, y; };

struct alignas(2) __half {
    unsigned short __x;
    __half() = default;
    __half(const __half_raw &r) : __x(r.x) {}
    __half(float f) : __x(lb_emu::f2h(f)) {}
    __half(double f) : __x(lb_emu::d2h(f)) {}
    __half(int i) : __x(lb_emu::f2h((float)i)) {}
    __half(unsigned i) : __x(lb_emu::f2h((float)i)) {}
    __half(long long i) : __x(lb_emu::f2h((float)i)) {}
    __half(unsigned long long i) : __x(lb_emu::f2h((float)i)) {}
    __half(short i) : __x(lb_emu::f2h((float)i)) {}
    __half(unsigned short i) : __x(lb_emu::f2h((float)i)) {}
    operator float() const { return lb_emu::h2f(__x); }
    operator __half_raw() const { return __half_raw{__x}; }
    __half &operator=(float f) { __x = lb_emu::f2h(f); return *this; }
    __half &operator=(const __half_raw &r) { __x = r.x; return *this; }
};
typedef __half half;
struct alignas(4) __half2 {
    __half x, y;
    __half2() = default;
    __half2(const __half &a, const __half &b) : x(a), y(b) {}
    __half2(const __half2_raw &r) { x.__x = r.x; y.__x = r.y; }
};
typedef __half2 half2;
static_assert(sizeof(__half) == 2 && sizeof(__half2) == 4, "half sizes");

static inline __half lb_emu_hbits(unsigned short b) { __half h; h.__x = b; return h; }
static inline __half __float2half(float f) { return lb_emu_hbits(lb_emu::f2h(f)); }
static inline __half __float2half_rn(float f) { return lb_emu_hbits(lb_emu::f2h(f)); }
static inline float __half2float(__half h) { return lb_emu::h2f(h.__x); }
static inline __half __ushort_as_half(unsigned short b) { return lb_emu_hbits(b); }
static inline unsigned short __half_as_ushort(__half h) { return h.__x; }
static inline __half __short_as_half(short b) { return lb_emu_hbits((unsigned short)b); }
static inline short __half_as_short(__half h) { return (short)h.__x; }
static inline __half __int2half_rn(int i) { return __float2half((float)i); }
static inline int __half2int_rn(__half h) { return (int)nearbyintf(__half2float(h)); }
static inline int __half2int_rz(__half h) { return (int)__half2float(h); }
static inline __half2 __halves2half2(__half a, __half b) { return __half2(a, b); }
static inline __half2 __half2half2(__half a) { return __half2(a, a); }
static inline __half2 __floats2half2_rn(float a, float b) { return __half2(__float2half(a), __float2half(b)); }
static inline __half2 __float2half2_rn(float a) { return __half2(__float2half(a), __float2half(a)); }
static inline __half2 __float22half2_rn(float2 f) { return __floats2half2_rn(f.x, f.y); }
static inline float2 __half22float2(__half2 h) { return float2{__half2float(h.x), __half2float(h.y)}; }
static inline float __low2float(__half2 h) { return __half2float(h.x); }
static inline float __high2float(__half2 h) { return __half2float(h.y); }
static inline __half __low2half(__half2 h) { return h.x; }
static inline __half __high2half(__half2 h) { return h.y; }
static inline __half2 __lows2half2(__half2 a, __half2 b) { return __half2(a.x, b.x); }
static inline __half2 __highs2half2(__half2 a, __half2 b) { return __half2(a.y, b.y); }
static inline __half __hadd(__half a, __half b) { return __float2half((float)a + (float)b); }
static inline __half __hsub(__half a, __half b) { return __float2half((float)a - (float)b); }
static inline __half __hmul(__half a, __half b) { return __float2half((float)a * (float)b); }
static inline __half __hdiv(__half a, __half b) { return __float2half((float)a / (float)b); }
static inline __half __hfma(__half a, __half b, __half c) {
    /* the product is exact in double and so is the sum for finite fp16 results: one rounding */
    return lb_emu_hbits(lb_emu::d2h((double)(float)a * (double)(float)b + (double)(float)c));
}
static inline __half __hneg(__half a) { return lb_emu_hbits((unsigned short)(a.__x ^ 0x8000u)); }
static inline __half __habs(__half a) { return lb_emu_hbits((unsigned short)(a.__x & 0x7fffu)); }
static inline __half __hmax(__half a, __half b) { return __float2half(fmaxf((float)a, (float)b)); }
static inline __half __hmin(__half a, __half b) { return __float2half(fminf((float)a, (float)b)); }
static inline bool __hisnan(__half a) { return (a.__x & 0x7fffu) > 0x7c00u; }
static inline int __hisinf(__half a) { return (a.__x & 0x7fffu) == 0x7c00u ? ((a.__x & 0x8000u) ? -1 : 1) : 0; }
static inline bool __heq(__half a, __half b) { return (float)a == (float)b; }
static inline bool __hne(__half a, __half b) { return (float)a != (float)b; }
static inline bool __hlt(__half a, __half b) { return (float)a < (float)b; }
static inline bool __hle(__half a, __half b) { return (float)a <= (float)b; }
static inline bool __hgt(__half a, __half b) { return (float)a > (float)b; }
static inline bool __hge(__half a, __half b) { return (float)a >= (float)b; }
static inline __half2 __hadd2(__half2 a, __half2 b) { return __half2(__hadd(a.x, b.x), __hadd(a.y, b.y)); }
static inline __half2 __hsub2(__half2 a, __half2 b) { return __half2(__hsub(a.x, b.x), __hsub(a.y, b.y)); }
static inline __half2 __hmul2(__half2 a, __half2 b) { return __half2(__hmul(a.x, b.x), __hmul(a.y, b.y)); }
static inline __half2 __h2div(__half2 a, __half2 b) { return __half2(__hdiv(a.x, b.x), __hdiv(a.y, b.y)); }
static inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
    return __half2(__hfma(a.x, b.x, c.x), __hfma(a.y, b.y, c.y));
}
static inline __half2 __hneg2(__half2 a) { return __half2(__hneg(a.x), __hneg(a.y)); }
static inline __half2 __habs2(__half2 a) { return __half2(__habs(a.x), __habs(a.y)); }
static inline __half2 __hmax2(__half2 a, __half2 b) { return __half2(__hmax(a.x, b.x), __hmax(a.y, b.y)); }
static inline __half2 __hmin2(__half2 a, __half2 b) { return __half2(__hmin(a.x, b.x), __hmin(a.y, b.y)); }
static inline __half hexp(__half a) { return __float2half(expf((float)a)); }
static inline __half hsqrt(__half a) { return __float2half(sqrtf((float)a)); }
static inline __half hrsqrt(__half a) { return __float2half(1.0f / sqrtf((float)a)); }
/* cuda_fp16.hpp's device operators: computed in float, rounded once. */
static inline __half operator+(const __half &a, const __half &b) { return __hadd(a, b); }
static inline __half operator-(const __half &a, const __half &b) { return __hsub(a, b); }
static inline __half operator*(const __half &a, const __half &b) { return __hmul(a, b); }
static inline __half operator/(const __half &a, const __half &b) { return __hdiv(a, b); }
static inline __half operator-(const __half &a) { return __hneg(a); }
static inline __half operator+(const __half &a) { return a; }
static inline __half &operator+=(__half &a, const __half &b) { return a = __hadd(a, b); }
static inline __half &operator-=(__half &a, const __half &b) { return a = __hsub(a, b); }
static inline __half &operator*=(__half &a, const __half &b) { return a = __hmul(a, b); }
static inline __half &operator/=(__half &a, const __half &b) { return a = __hdiv(a, b); }
static inline bool operator==(const __half &a, const __half &b) { return __heq(a, b); }
static inline bool operator!=(const __half &a, const __half &b) { return __hne(a, b); }
static inline bool operator<(const __half &a, const __half &b) { return __hlt(a, b); }
static inline bool operator<=(const __half &a, const __half &b) { return __hle(a, b); }
static inline bool operator>(const __half &a, const __half &b) { return __hgt(a, b); }
static inline bool operator>=(const __half &a, const __half &b) { return __hge(a, b); }
static inline __half2 operator+(const __half2 &a, const __half2 &b) { return __hadd2(a, b); }
static inline __half2 operator-(const __half2 &a, const __half2 &b) { return __hsub2(a, b); }
static inline __half2 operator*(const __half2 &a, const __half2 &b) { return __hmul2(a, b); }
static inline __half2 operator/(const __half2 &a, const __half2 &b) { return __h2div(a, b); }
static inline __half2 &operator+=(__half2 &a, const __half2 &b) { return a = __hadd2(a, b); }
static inline __half2 &operator*=(__half2 &a, const __half2 &b) { return a = __hmul2(a, b); }

/* ---- FP8 E4M3 (cuda_fp8.h subset) ---- */
#include "emu_fp8.h"

/* ---- tensor cores: nvcuda::wmma (m16n16k16, m32n8k16, m8n32k16; fp16 a/b, fp32 or fp16
 * accumulator). Warp-collective (a warp barrier: divergent use deadlocks → abort). Pointers must
 * be 32-byte aligned, ldm a multiple of 8 (__half) or 4 (float), as CUDA requires. ---- */
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K> struct lb_dims;
template <int M, int N, int K> struct lb_dims<matrix_a, M, N, K> { enum { rows = M, cols = K }; };
template <int M, int N, int K> struct lb_dims<matrix_b, M, N, K> { enum { rows = K, cols = N }; };
template <int M, int N, int K> struct lb_dims<accumulator, M, N, K> { enum { rows = M, cols = N }; };

/* x[r * cols + c] holds element (r, c) of the tile, in every lane. */
template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
    static_assert((M == 16 && N == 16 && K == 16) || (M == 32 && N == 8 && K == 16) ||
                      (M == 8 && N == 32 && K == 16),
                  "wmma shape: m16n16k16, m32n8k16 or m8n32k16");
    enum { rows = lb_dims<Use, M, N, K>::rows, cols = lb_dims<Use, M, N, K>::cols };
    enum { num_elements = rows * cols };
    typedef T element_type;
    T x[num_elements];
};

void lb_check(const void *p, unsigned ldm, unsigned elem_bytes, const char *what);
/* Abort unless every lane passed the same pointer, ldm and layout (and, with frag_bytes, the
 * same fragment contents): warp-uniform arguments as CUDA requires, and no dependence on the
 * GPU's element-to-lane mapping. */
struct lb_args {
    const void *p;
    unsigned ldm;
    int layout;
    const void *frag;
    void *dst;
    unsigned rows, cols, elem_bytes; /* the tile, for the race checker */
};
/* The race checker's record of a tile load or store (once per warp, in the last lane). */
static inline void lb_race_tile(const lb_args *a, int write) {
    const size_t stride = (size_t)a->ldm * a->elem_bytes;
    if (a->layout == mem_row_major) lb_emu_race_tile(a->p, a->rows, (size_t)a->cols * a->elem_bytes, stride, write);
    else lb_emu_race_tile(a->p, a->cols, (size_t)a->rows * a->elem_bytes, stride, write);
}
void lb_check_uniform(void *const *args, const char *what, size_t frag_bytes);

template <class Use, int M, int N, int K, class T, class L, class T2>
static inline void fill_fragment(fragment<Use, M, N, K, T, L> &f, const T2 &v) {
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_WMMA, "wmma::fill_fragment", nullptr, nullptr);
    for (int i = 0; i < f.num_elements; i++) f.x[i] = T(v);
}
static inline void lb_check_load(void *const *args) {
    lb_check_uniform(args, "wmma::load_matrix_sync", 0);
    lb_race_tile((const lb_args *)args[0], 0);
}
template <class Use, int M, int N, int K, class L>
LB_EMU_UNCHECKED static inline void load_matrix_sync(fragment<Use, M, N, K, __half, L> &f, const __half *p, unsigned ldm) {
    static_assert(!std::is_same<Use, accumulator>::value, "accumulator loads take a layout_t");
    lb_check(p, ldm, 2, "wmma::load_matrix_sync");
    typedef fragment<Use, M, N, K, __half, L> F;
    const bool row = std::is_same<L, row_major>::value;
    lb_args a{p, ldm, row ? mem_row_major : mem_col_major, nullptr, nullptr, F::rows, F::cols, 2};
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_WMMA, "wmma::load_matrix_sync", lb_check_load, &a);
    for (int r = 0; r < F::rows; r++)
        for (int c = 0; c < F::cols; c++) f.x[r * F::cols + c] = row ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K, class T>
LB_EMU_UNCHECKED static inline void load_matrix_sync(fragment<accumulator, M, N, K, T> &f, const T *p, unsigned ldm,
                                                     layout_t l) {
    lb_check(p, ldm, sizeof(T), "wmma::load_matrix_sync");
    lb_args a{p, ldm, (int)l, nullptr, nullptr, M, N, (unsigned)sizeof(T)};
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_WMMA, "wmma::load_matrix_sync", lb_check_load, &a);
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++) f.x[r * N + c] = l == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}
template <int M, int N, int K, class T> LB_EMU_UNCHECKED static void lb_store_do(void *const *args) {
    typedef fragment<accumulator, M, N, K, T> F;
    lb_check_uniform(args, "wmma::store_matrix_sync", sizeof(F));
    const lb_args *s = (const lb_args *)args[0];
    lb_race_tile(s, 1);
    const F *f = (const F *)s->frag;
    T *p = (T *)s->dst;
    for (int r = 0; r < M; r++)
        for (int c = 0; c < N; c++)
            (s->layout == mem_row_major ? p[(size_t)r * s->ldm + c] : p[(size_t)c * s->ldm + r]) = f->x[r * N + c];
}
/* Stored once per warp (by the last lane to arrive), before any lane continues. */
template <int M, int N, int K, class T>
static inline void store_matrix_sync(T *p, const fragment<accumulator, M, N, K, T> &f, unsigned ldm, layout_t l) {
    lb_check(p, ldm, sizeof(T), "wmma::store_matrix_sync");
    lb_args a{p, ldm, (int)l, &f, p, M, N, (unsigned)sizeof(T)};
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_WMMA, "wmma::store_matrix_sync", lb_store_do<M, N, K, T>, &a);
}
template <class FD, class FA, class FB, class FC> struct lb_mma_args {
    FD *d; const FA *a; const FB *b; const FC *c;
};
void lb_check_same(void *const *args, size_t offset, size_t bytes, const char *what);
/* Computed once per warp (the lanes' a, b, c must be equal) and given to every lane's d. */
template <int M, int N, int K, class FD, class FA, class FB, class FC> LB_EMU_UNCHECKED static void lb_mma_do(void *const *args) {
    typedef lb_mma_args<FD, FA, FB, FC> A;
    lb_check_same(args, offsetof(A, a), sizeof(FA), "wmma::mma_sync (matrix_a fragment)");
    lb_check_same(args, offsetof(A, b), sizeof(FB), "wmma::mma_sync (matrix_b fragment)");
    lb_check_same(args, offsetof(A, c), sizeof(FC), "wmma::mma_sync (accumulator fragment)");
    const A *x = (const A *)args[0];
    float fa[M * K], fb[K * N], out[M * N];
    for (int i = 0; i < M * K; i++) fa[i] = (float)x->a->x[i];
    for (int i = 0; i < K * N; i++) fb[i] = (float)x->b->x[i];
    for (int i = 0; i < M * N; i++) out[i] = (float)x->c->x[i];
    for (int i = 0; i < M; i++) /* each sum in k order; the products are exact in fp32 */
        for (int k = 0; k < K; k++) {
            const float av = fa[i * K + k];
            for (int j = 0; j < N; j++) out[i * N + j] += av * fb[k * N + j];
        }
    for (int l = 0; l < 32; l++) {
        FD *d = ((const A *)args[l])->d;
        for (int i = 0; i < M * N; i++) d->x[i] = typename FD::element_type(out[i]);
    }
}
/* d = a·b + c: fp16 products exact in fp32, fp32 sums in k order; a __half accumulator is
 * rounded once per mma. */
template <int M, int N, int K, class LA, class LB, class TC, class TD>
static inline void mma_sync(fragment<accumulator, M, N, K, TD> &d, const fragment<matrix_a, M, N, K, __half, LA> &a,
                            const fragment<matrix_b, M, N, K, __half, LB> &b,
                            const fragment<accumulator, M, N, K, TC> &c) {
    typedef fragment<accumulator, M, N, K, TD> FD;
    typedef fragment<matrix_a, M, N, K, __half, LA> FA;
    typedef fragment<matrix_b, M, N, K, __half, LB> FB;
    typedef fragment<accumulator, M, N, K, TC> FC;
    lb_mma_args<FD, FA, FB, FC> x{&d, &a, &b, &c};
    lb_emu_warp_sync_do(0xffffffffu, LB_EMU_WMMA, "wmma::mma_sync", lb_mma_do<M, N, K, FD, FA, FB, FC>, &x);
}
} // namespace wmma
} // namespace nvcuda

#include "emu_mma.h" /* mma.sync, ldmatrix, cp.async (kernels/mma.cuh) */

/* ---- the launcher behind LB_LAUNCH ---- */
/* Checks the configuration (error → the host thread's last error, nothing runs) and enqueues
 * the launch: run(ctx) once per thread of every block; destroy(ctx) once after the last. */
void lb_emu_launch_raw(const void *kernel, const char *name, dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, void (*run)(void *), void *ctx, void (*destroy)(void *));

template <class... P> struct lb_emu_launcher {
    void (*k)(P...);
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    const char *name;
    void operator()(P... args) const { /* converted like a call; copied once */
        typedef std::tuple<typename std::decay<P>::type...> Args;
        struct Ctx { void (*k)(P...); Args a; };
        Ctx *c = new Ctx{k, Args(args...)};
        lb_emu_launch_raw((const void *)k, name, grid, block, smem, stream,
                          [](void *p) { Ctx *x = (Ctx *)p; std::apply(x->k, x->a); },
                          c, [](void *p) { delete (Ctx *)p; });
    }
};
template <class... P>
static inline lb_emu_launcher<P...> lb_emu_make_launcher(void (*k)(P...), dim3 grid, dim3 block, size_t smem,
                                                         cudaStream_t stream, const char *name) {
    return lb_emu_launcher<P...>{k, grid, block, smem, stream, name};
}

#endif
