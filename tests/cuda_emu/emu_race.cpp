/* emu_race.cpp — the CUDA emulator's race checker (LABSE_EMU_RACECHECK=1), the emulated
 * counterpart of compute-sanitizer's racecheck.
 *
 * How it sees accesses: the kernel translation units are compiled with GCC's ThreadSanitizer
 * instrumentation (-fsanitize=thread, without TSan's runtime): every load and store calls a
 * __tsan_readN / __tsan_writeN hook, defined here (as the Linux kernel's KCSAN does). A hook
 * returns at once unless its OS thread is running an emulated block with the checker on.
 *
 * What it checks, per block (threads are fibers of one OS thread, see emu_launch.cpp):
 *  - shared memory (the launch's dynamic shared memory and every static __shared__ variable of
 *    the module, found through its symbol table, emu_symbols.cpp): per byte, the last writer and
 *    the last two readers, each with the block's barrier generation (__syncthreads count) and
 *    its warp's __syncwarp count. Two different threads touching a byte, at least one writing,
 *    in the same barrier interval is a hazard; for two lanes of one warp the interval is also
 *    cut by __syncwarp (Volta+ independent thread scheduling). wmma loads and stores are one
 *    access of the warp (pseudo-thread "warp w"): a tile op never races with its own lanes'
 *    other tile ops, but with another warp's (or a lane's own plain access in the same warp
 *    interval) it does.
 *  - global memory: per byte of every cudaMalloc allocation written in the launch, the writer
 *    (block, thread, barrier generation), swapped in atomically (blocks run on several OS
 *    threads). Two threads of different blocks writing a byte, or two threads of one block in
 *    one barrier interval, is a hazard (a missing reduction, overlapping tiles). Reads of
 *    global memory are not tracked (blocks cannot synchronise, so read-write sharing between
 *    blocks is rare and legal across launches only).
 *  - atomics are not hazards (the device header's atomics are not instrumented).
 * A hazard aborts the process with the kernel's name, the two threads and the offset.
 *
 * Cost: 24 bytes of shadow per shared byte (dynamic + every static __shared__ of the module) per
 * OS thread, 8 bytes per byte of each device allocation a kernel writes (freed with cudaFree);
 * the kernel tests run ~10% slower with the checker on than off, and the hooks cost ~10-15%
 * when off (measured on test_k_rowwise, test_k_attention --small and test_gpu_encoder tiny).
 *
 * Cannot see: accesses in code that is not instrumented (emulator internals, cuBLASLt, libc
 * memcpy), races between different launches (concurrent streams), __shared__ declared outside
 * the module's symbol table. Thread-safety: per-OS-thread state; the global shadows' map is
 * under a mutex, their records are atomics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "emu_internal.h"

namespace lbemu {
namespace {

std::atomic<bool> g_instrumented{false}; /* some translation unit called __tsan_init */

/* Record layouts (64 bits, 0 = empty).
 * shared: [block epoch 16][id 11][barrier gen 24][warp sync gen 13]
 * global: [launch epoch 18][block 21][id 11][barrier gen 14]
 * id: a thread's linear index (0..1023) or 1024 + warp (a warp-wide wmma access). */
inline unsigned rec_id_s(uint64_t r) { return (unsigned)(r >> 37) & 0x7ffu; }
inline unsigned warp_of(unsigned id) { return id < 1024 ? id >> 5 : id - 1024; }

struct SByte {
    uint64_t w, r1, r2;
};

struct GShadow {
    uintptr_t lo;
    size_t size;
    std::unique_ptr<std::atomic<uint64_t>[]> rec;
};

std::mutex g_gshadow_m;
std::map<uintptr_t, std::shared_ptr<GShadow>> g_gshadows; /* by allocation start */

struct State {
    /* the block */
    const char *kernel = nullptr;
    dim3 grid, block;
    uint64_t block_lin = 0;
    uint32_t epoch = 0;
    uintptr_t dyn_lo = 0;
    size_t dyn_size = 0;
    uint32_t bgen = 0;
    std::vector<uint32_t> wgen;
    uint16_t bepoch = 0;
    /* the running thread */
    unsigned lin = 0;
    uintptr_t stk_lo = 0;
    size_t stk_size = 0;
    /* static __shared__ of this OS thread: [st_lo, st_lo + st_span) */
    bool st_init = false;
    uintptr_t st_lo = 0;
    size_t st_span = 0;
    std::vector<SByte> sh; /* dyn_size bytes, then st_span */
    /* global shadows seen in this block */
    std::shared_ptr<GShadow> cache[4];
    unsigned cache_next = 0;
};

thread_local State tls_state;
/* Non-null while this OS thread runs a block with the checker on: the hooks' one test. */
__thread State *tls_active = nullptr;

inline uint64_t srec(const State *s, unsigned id) {
    return ((uint64_t)s->bepoch << 48) | ((uint64_t)(id & 0x7ffu) << 37) |
           ((uint64_t)(s->bgen & 0xffffffu) << 13) | (uint64_t)(s->wgen[warp_of(id)] & 0x1fffu);
}

/* Do records a (earlier) and b (now) conflict: two ids, same block, same interval? */
inline bool s_conflict(uint64_t a, uint64_t b) {
    if (!a || (a >> 48) != (b >> 48)) return false;
    unsigned ia = rec_id_s(a), ib = rec_id_s(b);
    if (ia == ib) return false;
    if (((a >> 13) & 0xffffffu) != ((b >> 13) & 0xffffffu)) return false; /* a __syncthreads between */
    if (warp_of(ia) != warp_of(ib)) return true;
    return (a & 0x1fffu) == (b & 0x1fffu); /* same warp: a __syncwarp between? */
}

void describe_id(const State *s, unsigned id, char *out, size_t cap) {
    if (id >= 1024) {
        snprintf(out, cap, "warp %u (a warp-wide wmma load/store)", id - 1024);
        return;
    }
    const unsigned bx = s->block.x, by = s->block.y;
    snprintf(out, cap, "thread (%u,%u,%u)", id % bx, (id / bx) % by, id / (bx * by));
}

/* Where byte `idx` of the shared shadow is, in words. */
void describe_shared(const State *s, size_t idx, char *out, size_t cap) {
    if (idx < s->dyn_size) {
        snprintf(out, cap, "dynamic shared memory, offset %zu", idx);
        return;
    }
    const size_t off = s->st_lo + (idx - s->dyn_size) - tls_block_base();
    for (const SharedVar &v : shared_vars())
        if (off >= v.off && off - v.off < v.size) {
            snprintf(out, cap, "static __shared__ '%s', offset %zu", demangle(v.name).c_str(), off - v.off);
            return;
        }
    snprintf(out, cap, "static shared memory, TLS offset %zu", off);
}

[[noreturn]] void report_shared(const State *s, size_t idx, uint64_t prev, bool prev_write, uint64_t cur,
                                bool cur_write) {
    char where[512], a[96], b[96], extra[160] = "";
    describe_shared(s, idx, where, sizeof where);
    const unsigned ip = rec_id_s(prev), ic = rec_id_s(cur);
    describe_id(s, ic, a, sizeof a);
    describe_id(s, ip, b, sizeof b);
    if (warp_of(ip) == warp_of(ic))
        snprintf(extra, sizeof extra, "; both in warp %u: no __syncwarp between them either", warp_of(ic));
    const char *kind = prev_write ? (cur_write ? "write-after-write" : "read-after-write") : "write-after-read";
    lb_emu_device_abort("racecheck: %s hazard on %s: %s %s it and %s %s it in the same barrier interval "
                        "(no __syncthreads between them%s)",
                        kind, where, a, cur_write ? "writes" : "reads", b, prev_write ? "wrote" : "read", extra);
}

void shared_access(State *s, size_t idx, size_t n, bool write, unsigned id) {
    const uint64_t cur = srec(s, id);
    const size_t end = std::min(idx + n, s->sh.size());
    for (size_t i = idx; i < end; i++) {
        SByte &e = s->sh[i];
        if (s_conflict(e.w, cur)) report_shared(s, i, e.w, true, cur, write);
        if (write) {
            if (s_conflict(e.r1, cur)) report_shared(s, i, e.r1, false, cur, true);
            if (s_conflict(e.r2, cur)) report_shared(s, i, e.r2, false, cur, true);
            e.w = cur;
        } else {
            const uint64_t idmask = 0xffffull << 48 | 0x7ffull << 37;
            if ((e.r2 & idmask) == (cur & idmask)) e.r2 = cur;
            else if ((e.r1 & idmask) == (cur & idmask)) e.r1 = cur;
            else {
                e.r1 = e.r2;
                e.r2 = cur;
            }
        }
    }
}

/* The static __shared__ range of this OS thread (its TLS copy of every variable). */
void init_static(State *s) {
    s->st_init = true;
    const std::vector<SharedVar> &v = shared_vars();
    if (!symbols_ok()) {
        static std::once_flag warned;
        std::call_once(warned, [] {
            fprintf(stderr, "labse CUDA emulator: racecheck: no symbol table (stripped?): static "
                            "__shared__ is not checked, only dynamic shared memory\n");
        });
        return;
    }
    if (v.empty()) return;
    const uintptr_t base = tls_block_base();
    s->st_lo = base + v.front().off;
    size_t hi = 0;
    for (const SharedVar &x : v) hi = std::max(hi, x.off + x.size);
    s->st_span = base + hi - s->st_lo;
}

/* The global shadow of the allocation holding a (null when a is not device memory). */
GShadow *global_shadow(State *s, uintptr_t a) {
    for (auto &c : s->cache)
        if (c && a - c->lo < c->size) return c.get();
    uintptr_t lo;
    size_t size;
    if (!dev_alloc_of((const void *)a, &lo, &size)) return nullptr;
    std::shared_ptr<GShadow> g;
    {
        std::lock_guard<std::mutex> l(g_gshadow_m);
        auto it = g_gshadows.find(lo);
        if (it != g_gshadows.end() && it->second->size == size) {
            g = it->second;
        } else {
            g = std::make_shared<GShadow>();
            g->lo = lo;
            g->size = size;
            g->rec.reset(new std::atomic<uint64_t>[size]());
            g_gshadows[lo] = g;
        }
    }
    s->cache[s->cache_next++ % 4] = g;
    return g.get();
}

[[noreturn]] void report_global(const State *s, const GShadow *g, size_t off, uint64_t prev, uint64_t cur) {
    const uint64_t pb = (prev >> 25) & 0x1fffffu;
    const unsigned pid = (unsigned)(prev >> 14) & 0x7ffu, cid = (unsigned)(cur >> 14) & 0x7ffu;
    char a[96], b[96];
    describe_id(s, cid, a, sizeof a);
    describe_id(s, pid, b, sizeof b);
    const unsigned gx = s->grid.x, gy = s->grid.y;
    lb_emu_device_abort("racecheck: write-after-write hazard on global memory, allocation %p (%zu bytes) "
                        "offset %zu: block (%u,%u,%u) %s writes it and block (%u,%u,%u) %s wrote it in the "
                        "same launch (a missing reduction or overlapping tiles?)",
                        (void *)g->lo, g->size, off, lb_emu_blockIdx.x, lb_emu_blockIdx.y, lb_emu_blockIdx.z,
                        a, (unsigned)(pb % gx), (unsigned)((pb / gx) % gy), (unsigned)(pb / ((uint64_t)gx * gy)), b);
}

void global_write(State *s, uintptr_t a, size_t n, unsigned id) {
    GShadow *g = global_shadow(s, a);
    if (!g) return;
    const uint64_t blk = s->block_lin & 0x1fffffu;
    const uint64_t cur = ((uint64_t)(s->epoch & 0x3ffffu) << 46) | (blk << 25) | ((uint64_t)(id & 0x7ffu) << 14) |
                         (uint64_t)(s->bgen & 0x3fffu);
    const size_t off0 = a - g->lo, end = std::min(off0 + n, g->size);
    for (size_t off = off0; off < end; off++) {
        const uint64_t old = g->rec[off].exchange(cur, std::memory_order_relaxed);
        if (!old || old == cur || (old >> 46) != (cur >> 46)) continue;
        const bool other_block = ((old >> 25) & 0x1fffffu) != blk;
        const bool other_thread = ((old >> 14) & 0x7ffu) != id;
        if (other_block || (other_thread && (old & 0x3fffu) == (cur & 0x3fffu))) report_global(s, g, off, old, cur);
    }
}

/* Whether TLS offset `off` (from the OS thread's TLS block) lies in a static __shared__ variable:
 * the static range also holds other TLS between them (the guard variables of arrays whose
 * element type has a constructor, the emulator's own thread-locals), which are the emulator's
 * artefacts (a GPU's shared memory is not initialised), not the kernel's shared memory. */
bool in_shared_var(size_t off) {
    const std::vector<SharedVar> &v = shared_vars(); /* sorted by offset */
    size_t lo = 0, hi = v.size();
    while (lo < hi) { /* the first variable starting after off */
        const size_t mid = (lo + hi) / 2;
        if (v[mid].off <= off) lo = mid + 1;
        else hi = mid;
    }
    return lo > 0 && off - v[lo - 1].off < v[lo - 1].size;
}

void record(const void *p, size_t n, bool write, unsigned id) {
    State *s = tls_active;
    const uintptr_t a = (uintptr_t)p;
    if (a - s->dyn_lo < s->dyn_size) {
        shared_access(s, a - s->dyn_lo, n, write, id);
    } else if (a - s->st_lo < s->st_span) {
        if (in_shared_var(a - s->st_lo + (s->st_lo - tls_block_base())))
            shared_access(s, s->dyn_size + (a - s->st_lo), n, write, id);
    } else if (write && a - s->stk_lo >= s->stk_size) {
        global_write(s, a, n, id);
    }
}

inline void on_read(const void *p, size_t n) {
    if (__builtin_expect(tls_active != nullptr, 0)) record(p, n, false, tls_active->lin);
}
inline void on_write(const void *p, size_t n) {
    if (__builtin_expect(tls_active != nullptr, 0)) record(p, n, true, tls_active->lin);
}

} // namespace

bool race_enabled(void) {
    static const bool on = [] {
        const char *e = getenv("LABSE_EMU_RACECHECK");
        return e && *e && strcmp(e, "0") != 0;
    }();
    if (on && !g_instrumented.load(std::memory_order_relaxed))
        fatal("LABSE_EMU_RACECHECK is set but this build's kernels are not instrumented (the race "
              "checker needs the emulation build without LABSE_SANITIZE: ASan and TSan "
              "instrumentation do not combine)");
    return on;
}

uint32_t race_new_epoch(void) {
    static std::atomic<uint32_t> next{0};
    uint32_t e;
    do e = (next.fetch_add(1, std::memory_order_relaxed) + 1) & 0x3ffffu;
    while (e == 0);
    return e;
}

void race_block_begin(const char *kernel, dim3 grid, dim3 block, uint64_t block_lin, uint32_t epoch,
                      const char *dyn, size_t smem) {
    State *s = &tls_state;
    if (!s->st_init) init_static(s);
    s->kernel = kernel;
    s->grid = grid;
    s->block = block;
    s->block_lin = block_lin;
    s->epoch = epoch;
    s->dyn_lo = (uintptr_t)dyn;
    s->dyn_size = dyn ? smem : 0;
    s->bgen = 0;
    s->wgen.assign(((size_t)block.x * block.y * block.z + 31) / 32, 0);
    const size_t need = s->dyn_size + s->st_span;
    if (++s->bepoch == 0 || s->sh.size() < need) { /* records of old blocks must not match */
        s->sh.assign(std::max(need, s->sh.size()), SByte{0, 0, 0});
        if (s->bepoch == 0) s->bepoch = 1;
    }
    for (auto &c : s->cache) c.reset();
    tls_active = s;
}

void race_thread(unsigned lin, const char *stack_lo, size_t stack_size) {
    State *s = &tls_state;
    s->lin = lin;
    s->stk_lo = (uintptr_t)stack_lo;
    s->stk_size = stack_size;
}

void race_barrier(void) { tls_state.bgen++; }

void race_syncwarp(unsigned warp) {
    State *s = &tls_state;
    if (warp < s->wgen.size()) s->wgen[warp]++;
}

void race_block_end(void) {
    tls_active = nullptr;
    for (auto &c : tls_state.cache) c.reset();
}

void race_forget(const void *dev_base) {
    std::lock_guard<std::mutex> l(g_gshadow_m);
    g_gshadows.erase((uintptr_t)dev_base);
}

} // namespace lbemu

using namespace lbemu;

/* A warp-wide access (wmma load/store): `rows` runs of `row_bytes` bytes, `stride` apart. */
void lb_emu_race_tile(const void *p, unsigned rows, size_t row_bytes, size_t stride, int write) {
    State *s = tls_active;
    if (!s) return;
    const unsigned id = 1024 + s->lin / 32;
    for (unsigned r = 0; r < rows; r++) record((const char *)p + (size_t)r * stride, row_bytes, write != 0, id);
}

void lb_emu_race_access(const void *p, size_t n, int write) {
    if (write)
        on_write(p, n);
    else
        on_read(p, n);
}

/* ---- the ThreadSanitizer ABI that GCC's -fsanitize=thread instrumentation calls ---- */
extern "C" {
void __tsan_init(void) { g_instrumented.store(true, std::memory_order_relaxed); }
void __tsan_func_entry(void *) {}
void __tsan_func_exit(void) {}
void __tsan_read1(void *p) { on_read(p, 1); }
void __tsan_read2(void *p) { on_read(p, 2); }
void __tsan_read4(void *p) { on_read(p, 4); }
void __tsan_read8(void *p) { on_read(p, 8); }
void __tsan_read16(void *p) { on_read(p, 16); }
void __tsan_write1(void *p) { on_write(p, 1); }
void __tsan_write2(void *p) { on_write(p, 2); }
void __tsan_write4(void *p) { on_write(p, 4); }
void __tsan_write8(void *p) { on_write(p, 8); }
void __tsan_write16(void *p) { on_write(p, 16); }
void __tsan_unaligned_read2(const void *p) { on_read(p, 2); }
void __tsan_unaligned_read4(const void *p) { on_read(p, 4); }
void __tsan_unaligned_read8(const void *p) { on_read(p, 8); }
void __tsan_unaligned_read16(const void *p) { on_read(p, 16); }
void __tsan_unaligned_write2(void *p) { on_write(p, 2); }
void __tsan_unaligned_write4(void *p) { on_write(p, 4); }
void __tsan_unaligned_write8(void *p) { on_write(p, 8); }
void __tsan_unaligned_write16(void *p) { on_write(p, 16); }
void __tsan_read_range(void *p, unsigned long n) { on_read(p, n); }
void __tsan_write_range(void *p, unsigned long n) { on_write(p, n); }
void __tsan_vptr_read(void **) {}
void __tsan_vptr_update(void **, void *) {}
}
