/* emu_launch.cpp — kernel execution of the CUDA emulator: blocks as groups of cooperative
 * fibers, block/warp barriers and exchanges, deadlock detection, and the pool of OS threads
 * that runs the blocks of a launch in parallel.
 *
 * Each OS thread that runs blocks owns a Worker (thread_local): a pool of fibers (stacks reused
 * across blocks and launches; a guard page below each) and the state of the block it runs.
 * The scheduler (the OS thread's own stack) resumes READY fibers round-robin; a fiber runs until
 * it waits at a barrier or returns. A pass that resumes nobody while threads are live is a
 * deadlock → abort with the kernel's name and what every thread waits at.
 * Context switch: a few lines of assembly on x86-64 (callee-saved registers + stack pointer);
 * ucontext elsewhere (or with -DLB_EMU_UCONTEXT). ASan is told about every stack switch. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu_internal.h"

#if defined(__SANITIZE_ADDRESS__)
#define LB_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LB_EMU_ASAN 1
#endif
#endif
#ifdef LB_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__) && !defined(LB_EMU_UCONTEXT)
#define LB_EMU_UCONTEXT 1
#endif
#ifdef LB_EMU_UCONTEXT
#include <ucontext.h>
#else
/* lb_emu_ctx_switch(&save_sp, to_sp): push the callee-saved registers, save rsp, load to_sp,
 * pop, ret. A fresh stack is laid out so that the first `ret` enters fiber_entry. */
asm(R"(
    .text
    .p2align 4
    .type lb_emu_ctx_switch,@function
lb_emu_ctx_switch:
    .cfi_startproc
    endbr64
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .cfi_endproc
    .size lb_emu_ctx_switch, .-lb_emu_ctx_switch
)");
extern "C" void lb_emu_ctx_switch(void **save_sp, void *to_sp);
#endif

__thread uint3 lb_emu_threadIdx, lb_emu_blockIdx, lb_emu_blockDim, lb_emu_gridDim;

namespace lbemu {
namespace {

enum { F_READY, F_WAIT_BLOCK, F_WAIT_WARP, F_DONE };

struct Fiber {
#ifdef LB_EMU_UCONTEXT
    ucontext_t uc;
#else
    void *sp = nullptr;
#endif
    char *map = nullptr; /* mmap'd region: guard page + stack */
    size_t map_size = 0;
    char *stack_lo = nullptr;
    size_t stack_size = 0;
    void *fake_stack = nullptr; /* ASan */
    uint3 tid{0, 0, 0};
    unsigned lin = 0;
    int state = F_DONE;
    unsigned wait_gen = 0;
};

struct Warp {
    int live = 0, arrived = 0;
    unsigned gen = 0;
    int op = 0;
    const char *what = nullptr;
    void (*fn)(void *) = nullptr;
    void *arg = nullptr;
    uint64_t slots[2][32];
};

struct Job {
    const void *kernel;
    const char *name;
    void (*run)(void *);
    void *ctx;
    void (*destroy)(void *);
    dim3 grid, block;
    size_t smem;
    unsigned nthreads;
    uint64_t nblocks;
    bool race;                 /* LABSE_EMU_RACECHECK */
    uint32_t race_epoch;
    uint64_t order_a, order_c; /* block order: claim i runs block (a*i + c) mod nblocks */
    std::atomic<uint64_t> next{0};
    std::atomic<uint64_t> done{0};
    std::mutex m;
    std::condition_variable cv;
};

struct Worker {
    std::vector<Fiber *> fibers;
#ifdef LB_EMU_UCONTEXT
    ucontext_t sched_uc;
#else
    void *sched_sp = nullptr;
#endif
    void *sched_fake = nullptr;
    const void *sched_bottom = nullptr;
    size_t sched_size = 0;
    Job *job = nullptr;
    Fiber *cur = nullptr;
    /* the running block */
    unsigned n = 0;
    int live = 0, arrived = 0;
    unsigned gen = 0;
    int count_acc = 0, count_res[2] = {0, 0};
    std::vector<Warp> warps;
    char *dyn = nullptr;
    size_t dyn_cap = 0;
    std::vector<unsigned> order; /* the order threads are resumed in, per pass */
    ~Worker();
};

size_t stack_bytes() {
    static size_t s = [] {
        const char *e = getenv("LABSE_EMU_STACK_KB");
        long kb = e ? atol(e) : 0;
#ifdef LB_EMU_ASAN
        if (kb <= 0) kb = 512;
#else
        if (kb <= 0) kb = 256;
#endif
        if (kb < 64) kb = 64;
        return (size_t)kb * 1024;
    }();
    return s;
}

thread_local Worker tls_worker;

Worker::~Worker() {
    for (Fiber *f : fibers) {
        munmap(f->map, f->map_size);
        delete f;
    }
    free(dyn);
}

void fiber_entry_body();

void lb_emu_fiber_entry() { fiber_entry_body(); }

Fiber *new_fiber() {
    Fiber *f = new Fiber;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    f->stack_size = stack_bytes();
    f->map_size = f->stack_size + page;
    void *m = mmap(nullptr, f->map_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (m == MAP_FAILED) fatal("cannot map a %zu-byte fiber stack", f->map_size);
    f->map = (char *)m;
    mprotect(f->map, page, PROT_NONE); /* guard page: a stack overflow faults */
    f->stack_lo = f->map + page;
#ifdef LB_EMU_UCONTEXT
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack_lo;
    f->uc.uc_stack.ss_size = f->stack_size;
    f->uc.uc_link = nullptr;
    makecontext(&f->uc, (void (*)())lb_emu_fiber_entry, 0);
#else
    uintptr_t top = ((uintptr_t)(f->stack_lo + f->stack_size)) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;                               /* fiber_entry's (never used) return address */
    *--sp = (uint64_t)&lb_emu_fiber_entry;   /* popped by the first switch's ret */
    for (int i = 0; i < 6; i++) *--sp = 0;   /* rbp rbx r12 r13 r14 r15 */
    f->sp = sp;
#endif
    return f;
}

/* scheduler → fiber f */
inline void switch_to(Worker *w, Fiber *f) {
#ifdef LB_EMU_ASAN
    __sanitizer_start_switch_fiber(&w->sched_fake, f->stack_lo, f->stack_size);
#endif
#ifdef LB_EMU_UCONTEXT
    swapcontext(&w->sched_uc, &f->uc);
#else
    lb_emu_ctx_switch(&w->sched_sp, f->sp);
#endif
#ifdef LB_EMU_ASAN
    __sanitizer_finish_switch_fiber(w->sched_fake, nullptr, nullptr);
#endif
}

/* fiber f → scheduler; returns when the scheduler resumes f */
inline void yield(Worker *w, Fiber *f) {
#ifdef LB_EMU_ASAN
    __sanitizer_start_switch_fiber(&f->fake_stack, w->sched_bottom, w->sched_size);
#endif
#ifdef LB_EMU_UCONTEXT
    swapcontext(&f->uc, &w->sched_uc);
#else
    lb_emu_ctx_switch(&f->sp, w->sched_sp);
#endif
#ifdef LB_EMU_ASAN
    __sanitizer_finish_switch_fiber(f->fake_stack, &w->sched_bottom, &w->sched_size);
#endif
}

void release_block(Worker *w) {
    if (w->job->race) race_barrier();
    w->count_res[w->gen & 1] = w->count_acc;
    w->count_acc = 0;
    w->arrived = 0;
    w->gen++;
    for (unsigned i = 0; i < w->n; i++)
        if (w->fibers[i]->state == F_WAIT_BLOCK) w->fibers[i]->state = F_READY;
}

void fiber_exit(Worker *w, Fiber *f) {
    Warp &wp = w->warps[f->lin / 32];
    wp.live--;
    w->live--;
    f->state = F_DONE;
    if (wp.arrived > 0)
        lb_emu_device_abort("thread %u (lane %u) returned while other lanes of its warp wait in %s "
                            "(a warp collective needs all 32 lanes)", f->lin, f->lin % 32, wp.what);
    if (w->arrived > 0 && w->arrived == w->live) release_block(w);
    yield(w, f);
}

void fiber_entry_body() {
    Worker *w = &tls_worker;
#ifdef LB_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &w->sched_bottom, &w->sched_size);
#endif
    for (;;) {
        w->job->run(w->job->ctx);
        fiber_exit(w, w->cur);
    }
}

const char *state_name(int s) {
    switch (s) {
    case F_READY: return "ready";
    case F_WAIT_BLOCK: return "__syncthreads";
    case F_WAIT_WARP: return "a warp collective";
    default: return "returned";
    }
}

[[noreturn]] void deadlock(Worker *w) {
    unsigned nb = 0, nw = 0, nd = 0;
    for (unsigned i = 0; i < w->n; i++) {
        int s = w->fibers[i]->state;
        nb += s == F_WAIT_BLOCK;
        nw += s == F_WAIT_WARP;
        nd += s == F_DONE;
    }
    char detail[512] = "";
    size_t len = 0;
    for (size_t i = 0; i < w->warps.size() && len < sizeof detail - 100; i++) {
        const Warp &wp = w->warps[i];
        if (wp.arrived > 0)
            len += (size_t)snprintf(detail + len, sizeof detail - len,
                                    "; warp %zu: %d of %d live lanes in %s", i, wp.arrived, wp.live, wp.what);
    }
    unsigned first = 0;
    while (first < w->n && w->fibers[first]->state == F_DONE) first++;
    lb_emu_device_abort("deadlock: %u threads wait at __syncthreads (%d of %d live arrived), %u in warp "
                        "collectives, %u returned%s (e.g. thread %u waits at %s)",
                        nb, w->arrived, w->live, nw, nd, detail, first,
                        first < w->n ? state_name(w->fibers[first]->state) : "?");
}

/* LABSE_EMU_SCHEDULE: unset or "forward" (threads resumed in index order, blocks claimed in
 * order), "reverse" (threads in decreasing index order), "random:SEED" (every pass over a
 * block's threads in a fresh pseudo-random order, blocks claimed in a pseudo-random order; the
 * same SEED gives the same orders per block whatever OS thread runs it). */
enum { SCHED_FORWARD, SCHED_REVERSE, SCHED_RANDOM };
struct Schedule {
    int kind;
    uint64_t seed;
};
const Schedule &schedule() {
    static Schedule s = [] {
        Schedule r{SCHED_FORWARD, 0};
        const char *e = getenv("LABSE_EMU_SCHEDULE");
        if (!e || !*e || strcmp(e, "forward") == 0) return r;
        if (strcmp(e, "reverse") == 0) {
            r.kind = SCHED_REVERSE;
        } else if (strncmp(e, "random:", 7) == 0 && e[7]) {
            char *end = nullptr;
            r.kind = SCHED_RANDOM;
            r.seed = strtoull(e + 7, &end, 10);
            if (*end) fatal("LABSE_EMU_SCHEDULE=%s: the seed must be a decimal number", e);
        } else {
            fatal("LABSE_EMU_SCHEDULE=%s: expected forward, reverse or random:SEED", e);
        }
        return r;
    }();
    return s;
}

/* splitmix64: a small, good 64-bit mixer for the random schedule. */
uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void run_block(Worker *w, Job *j, uint64_t b) {
    const unsigned gx = j->grid.x, gy = j->grid.y;
    lb_emu_blockIdx = uint3{(unsigned)(b % gx), (unsigned)((b / gx) % gy), (unsigned)(b / ((uint64_t)gx * gy))};
    lb_emu_blockDim = uint3{j->block.x, j->block.y, j->block.z};
    lb_emu_gridDim = uint3{j->grid.x, j->grid.y, j->grid.z};
    const unsigned n = j->nthreads;
    while (w->fibers.size() < n) w->fibers.push_back(new_fiber());
    w->job = j;
    w->n = n;
    w->live = (int)n;
    w->arrived = 0;
    w->gen = 0;
    w->count_acc = 0;
    w->warps.assign((n + 31) / 32, Warp());
    for (size_t i = 0; i < w->warps.size(); i++) w->warps[i].live = (int)(n - 32 * i < 32 ? n - 32 * i : 32);
    if (j->smem) {
        if (w->dyn_cap < j->smem) {
            free(w->dyn);
            w->dyn_cap = (j->smem + 4095) & ~(size_t)4095;
            if (posix_memalign((void **)&w->dyn, 256, w->dyn_cap)) fatal("out of host memory (shared memory)");
        }
        memset(w->dyn, 0xff, j->smem); /* uninitialised shared memory reads as NaN */
    }
    if (j->race) race_block_begin(j->name, j->grid, j->block, b, j->race_epoch, j->smem ? w->dyn : nullptr, j->smem);
    const unsigned bx = j->block.x, by = j->block.y;
    for (unsigned i = 0; i < n; i++) {
        Fiber *f = w->fibers[i];
        f->state = F_READY;
        f->lin = i;
        f->tid = uint3{i % bx, (i / bx) % by, i / (bx * by)};
    }
    const Schedule &sc = schedule();
    std::vector<unsigned> &order = w->order;
    order.resize(n);
    for (unsigned i = 0; i < n; i++) order[i] = sc.kind == SCHED_REVERSE ? n - 1 - i : i;
    uint64_t rng = mix64(sc.seed ^ mix64(b + 1));
    while (w->live > 0) {
        bool progress = false;
        if (sc.kind == SCHED_RANDOM) /* Fisher-Yates, a fresh order every pass */
            for (unsigned i = n - 1; i > 0; i--) {
                rng = mix64(rng);
                std::swap(order[i], order[rng % (i + 1)]);
            }
        for (unsigned idx = 0; idx < n; idx++) {
            Fiber *f = w->fibers[order[idx]];
            if (f->state != F_READY) continue;
            w->cur = f;
            lb_emu_threadIdx = f->tid;
            if (j->race) race_thread(f->lin, f->stack_lo, f->stack_size);
            switch_to(w, f);
            progress = true;
        }
        if (!progress && w->live > 0) deadlock(w);
    }
    if (j->race) race_block_end();
    w->cur = nullptr;
    w->job = nullptr;
}

void work_on(Job *j) {
    Worker *w = &tls_worker;
    if (w->job) fatal("kernel '%s' launched from inside kernel '%s'", j->name, w->job->name);
    uint64_t b, finished = 0;
    while ((b = j->next.fetch_add(1)) < j->nblocks) {
        run_block(w, j, (j->order_a * b + j->order_c) % j->nblocks);
        finished++;
    }
    if (finished && j->done.fetch_add(finished) + finished == j->nblocks) {
        std::lock_guard<std::mutex> g(j->m);
        j->cv.notify_all();
    }
}

/* The block-running OS threads beside the launching thread. */
struct Pool {
    std::mutex m;
    std::condition_variable cv;
    std::vector<std::shared_ptr<Job>> jobs;
    std::vector<std::thread> threads;
    bool started = false;

    void start() {
        int n = emu_threads() - 1;
        for (int i = 0; i < n; i++)
            threads.emplace_back([this] { loop(); });
        started = true;
    }
    void loop() {
        for (;;) {
            std::shared_ptr<Job> j;
            {
                std::unique_lock<std::mutex> g(m);
                cv.wait(g, [&] {
                    for (auto &x : jobs)
                        if (x->next.load() < x->nblocks) return true;
                    return false;
                });
                for (auto &x : jobs)
                    if (x->next.load() < x->nblocks) { j = x; break; }
            }
            work_on(j.get());
        }
    }
};

Pool *pool() {
    static Pool *p = new Pool; /* never destroyed: its threads live until the process exits */
    return p;
}

void execute(const std::shared_ptr<Job> &j) {
    Pool *p = pool();
    bool shared = j->nblocks > 1 && emu_threads() > 1;
    if (shared) {
        std::lock_guard<std::mutex> g(p->m);
        if (!p->started) p->start();
        p->jobs.push_back(j);
        p->cv.notify_all();
    }
    work_on(j.get());
    {
        std::unique_lock<std::mutex> g(j->m);
        j->cv.wait(g, [&] { return j->done.load() == j->nblocks; });
    }
    if (shared) {
        std::lock_guard<std::mutex> g(p->m);
        for (size_t i = 0; i < p->jobs.size(); i++)
            if (p->jobs[i] == j) { p->jobs.erase(p->jobs.begin() + (long)i); break; }
    }
}

inline Fiber *current(const char *what) {
    Worker *w = &tls_worker;
    if (!w->cur) fatal("%s called outside a kernel", what);
    return w->cur;
}

} // namespace

int emu_threads(void) {
    static int n = [] {
        const char *e = getenv("LABSE_EMU_THREADS");
        int v = e ? atoi(e) : 0;
        if (v <= 0) v = (int)std::thread::hardware_concurrency();
        if (v <= 0) v = 1;
        if (v > 256) v = 256;
        return v;
    }();
    return n;
}

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "labse CUDA emulator: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    abort();
}

} // namespace lbemu

using namespace lbemu;

void lb_emu_device_abort(const char *fmt, ...) {
    Worker *w = &tls_worker;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->job) {
        /* a kernel launched through a pointer (auto k = f<64>; LB_LAUNCH(k, ...)): name f<64> too */
        std::string sym = kernel_symbol(w->job->kernel);
        if (sym.compare(0, strlen(w->job->name), w->job->name) == 0) sym.clear();
        fatal("kernel '%s'%s%s%s grid (%u,%u,%u) block (%u,%u,%u), in block (%u,%u,%u) thread (%u,%u,%u): %s",
              w->job->name, sym.empty() ? "" : " (", sym.c_str(), sym.empty() ? "" : ")", w->job->grid.x, w->job->grid.y, w->job->grid.z, w->job->block.x,
              w->job->block.y, w->job->block.z, lb_emu_blockIdx.x, lb_emu_blockIdx.y, lb_emu_blockIdx.z,
              w->cur ? w->cur->tid.x : 0, w->cur ? w->cur->tid.y : 0, w->cur ? w->cur->tid.z : 0, msg);
    }
    fatal("%s", msg);
}

void lb_emu_syncthreads(void) { (void)lb_emu_syncthreads_count(0); }

int lb_emu_syncthreads_count(int pred) {
    Fiber *f = current("__syncthreads");
    Worker *w = &tls_worker;
    w->count_acc += pred != 0;
    unsigned g = w->gen;
    if (++w->arrived == w->live) {
        release_block(w);
    } else {
        f->state = F_WAIT_BLOCK;
        yield(w, f);
    }
    return w->count_res[g & 1];
}

static Warp *warp_arrive(Fiber *f, unsigned mask, int op, const char *what) {
    Worker *w = &tls_worker;
    if (mask != 0xffffffffu)
        lb_emu_device_abort("%s with mask 0x%08x: the emulator supports only the full mask", what, mask);
    Warp *wp = &w->warps[f->lin / 32];
    if (wp->live != 32)
        lb_emu_device_abort("%s in a warp of %d live lanes (block of %u threads; exited lanes?): "
                            "a full-mask collective needs all 32", what, wp->live, w->n);
    if (wp->arrived == 0) {
        wp->op = op;
        wp->what = what;
    } else if (wp->op != op) {
        lb_emu_device_abort("divergent warp: lane %u is in %s while other lanes are in %s", f->lin % 32,
                            what, wp->what);
    }
    return wp;
}

static void warp_wait(Fiber *f, Warp *wp, void (*fn)(void *const *), unsigned g) {
    Worker *w = &tls_worker;
    if (++wp->arrived == 32) {
        if (fn) fn((void *const *)wp->slots[g]);
        if (wp->op == LB_EMU_SYNCWARP && w->job->race) race_syncwarp(f->lin / 32);
        wp->arrived = 0;
        wp->gen++;
        unsigned base = f->lin & ~31u;
        for (unsigned i = base; i < base + 32; i++)
            if (w->fibers[i]->state == F_WAIT_WARP) w->fibers[i]->state = F_READY;
    } else {
        f->state = F_WAIT_WARP;
        yield(w, f);
    }
}

const uint64_t *lb_emu_warp_exchange(unsigned mask, uint64_t val, int op, const char *what) {
    Fiber *f = current(what);
    Warp *wp = warp_arrive(f, mask, op, what);
    unsigned g = wp->gen & 1;
    wp->slots[g][f->lin & 31] = val;
    warp_wait(f, wp, nullptr, g);
    return wp->slots[g];
}

void lb_emu_warp_sync_do(unsigned mask, int op, const char *what, void (*fn)(void *const *), void *arg) {
    static_assert(sizeof(void *) == sizeof(uint64_t), "slots hold pointers");
    Fiber *f = current(what);
    Warp *wp = warp_arrive(f, mask, op, what);
    unsigned g = wp->gen & 1;
    memcpy(&wp->slots[g][f->lin & 31], &arg, sizeof arg);
    warp_wait(f, wp, fn, g);
}

unsigned lb_emu_activemask(void) {
    Fiber *f = current("__activemask");
    Worker *w = &tls_worker;
    unsigned base = f->lin & ~31u, m = 0;
    for (unsigned i = base; i < base + 32 && i < w->n; i++)
        if (w->fibers[i]->state != F_DONE) m |= 1u << (i - base);
    return m;
}

void *lb_emu_dynamic_smem(void) {
    Worker *w = &tls_worker;
    if (!w->cur) fatal("dynamic shared memory used outside a kernel");
    return w->job->smem ? w->dyn : nullptr;
}

void nvcuda::wmma::lb_check(const void *p, unsigned ldm, unsigned elem_bytes, const char *what) {
    if (((uintptr_t)p & 31u) != 0)
        lb_emu_device_abort("%s: pointer %p is not 256-bit (32-byte) aligned", what, p);
    unsigned mult = 16u / elem_bytes; /* ldm in elements: a multiple of 16 bytes */
    if (ldm == 0 || ldm % mult != 0)
        lb_emu_device_abort("%s: ldm %u is not a multiple of %u elements", what, ldm, mult);
}

void nvcuda::wmma::lb_check_uniform(void *const *args, const char *what, size_t frag_bytes) {
    const lb_args *a0 = (const lb_args *)args[0];
    for (int l = 1; l < 32; l++) {
        const lb_args *a = (const lb_args *)args[l];
        if (a->p != a0->p || a->ldm != a0->ldm || a->layout != a0->layout)
            lb_emu_device_abort("%s: lane %d passes pointer %p ldm %u, lane 0 pointer %p ldm %u: the "
                                "arguments must be the same in every lane", what, l, a->p, a->ldm, a0->p, a0->ldm);
        if (frag_bytes && memcmp(a->frag, a0->frag, frag_bytes) != 0)
            lb_emu_device_abort("%s: lane %d's fragment differs from lane 0's (uninitialised, or the "
                                "kernel depends on the GPU's element-to-lane mapping, which the emulator does not "
                                "model)", what, l);
    }
}

void nvcuda::wmma::lb_check_same(void *const *args, size_t offset, size_t bytes, const char *what) {
    const void *f0;
    memcpy(&f0, (const char *)args[0] + offset, sizeof f0);
    for (int l = 1; l < 32; l++) {
        const void *f;
        memcpy(&f, (const char *)args[l] + offset, sizeof f);
        if (memcmp(f, f0, bytes) != 0)
            lb_emu_device_abort("%s: lane %d's fragment differs from lane 0's (uninitialised, or the "
                                "kernel depends on the GPU's element-to-lane mapping, which the emulator does not "
                                "model)", what, l);
    }
}

void lb_emu_launch_raw(const void *kernel, const char *name, dim3 grid, dim3 block, size_t smem,
                       cudaStream_t stream, void (*run)(void *), void *ctx, void (*destroy)(void *)) {
    uint64_t nthreads = (uint64_t)block.x * block.y * block.z;
    bool ok = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
              grid.z <= 65535 && block.x >= 1 && block.y >= 1 && block.z >= 1 && block.x <= 1024 &&
              block.y <= 1024 && block.z <= 64 && nthreads <= 1024 && smem <= kernel_max_dyn_smem(kernel);
    if (!ok) {
        destroy(ctx);
        set_error(cudaErrorInvalidConfiguration);
        return;
    }
    /* The arguments (ctx) live as long as the queued op: one run on a stream, or every replay
     * of a CUDA graph that recorded it (each run is a fresh Job over the same arguments, with
     * its own race-checker epoch and, under the random schedule, its own block order). */
    struct Args {
        void *ctx;
        void (*destroy)(void *);
        Args(void *c, void (*d)(void *)) : ctx(c), destroy(d) {}
        Args(const Args &) = delete;
        Args &operator=(const Args &) = delete;
        ~Args() { destroy(ctx); }
    };
    auto args = std::make_shared<Args>(ctx, destroy);
    cudaError_t e = stream_submit(stream, [=] {
        auto j = std::make_shared<Job>();
        j->kernel = kernel;
        j->name = name;
        j->run = run;
        j->ctx = args->ctx;
        j->destroy = destroy;
        j->grid = grid;
        j->block = block;
        j->smem = smem;
        j->nthreads = (unsigned)nthreads;
        j->nblocks = (uint64_t)grid.x * grid.y * grid.z;
        j->race = race_enabled();
        j->race_epoch = j->race ? race_new_epoch() : 0;
        j->order_a = 1;
        j->order_c = 0;
        if (schedule().kind == SCHED_RANDOM && j->nblocks > 1) { /* an affine bijection of 0..nblocks-1 */
            static std::atomic<uint64_t> launches{0};
            uint64_t r = mix64(schedule().seed ^ mix64(~launches.fetch_add(1)));
            j->order_c = r % j->nblocks;
            j->order_a = 1 + (mix64(r) % (j->nblocks - 1));
            while (gcd64(j->order_a, j->nblocks) != 1) j->order_a = j->order_a % (j->nblocks - 1) + 1;
        }
        execute(j);
    });
    if (e != cudaSuccess) set_error(e); /* the op (and with it args) is gone: ctx destroyed */
}
