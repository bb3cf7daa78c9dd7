/* emu_runtime.cpp — the CUDA runtime subset of the emulator: errors, device, memory (a registry
 * of allocations, a device memory limit), streams (one FIFO + worker thread each), events.
 *
 * Ordering model (as CUDA's legacy default stream): work on stream 0/NULL waits for all
 * *blocking* streams (created without cudaStreamNonBlocking) to drain, then runs inline, so
 * later work on blocking streams is ordered after it too. Non-blocking streams are independent
 * of stream 0, so e.g. cudaMemcpy does NOT wait for them (as on a GPU). cudaDeviceSynchronize,
 * cudaFree and cudaFreeHost drain every stream. Async copies: pinned host memory is accessed
 * when the stream reaches the copy; pageable host memory is staged at the call (H2D) or the
 * call waits for the stream and copies (D2H), as CUDA documents. Thread-safe. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "emu_internal.h"

struct CUstream_st {
    unsigned flags = 0;
    std::mutex m;
    std::condition_variable cv;
    std::deque<std::function<void()>> q;
    uint64_t submitted = 0, completed = 0;
    int users = 0; /* host calls using the handle now (cudaStreamDestroy waits for 0) */
    /* stream capture: the recorded ops (null when not capturing), invalidated by misuse */
    std::shared_ptr<std::vector<std::function<void()>>> capture;
    bool capture_bad = false;
    bool stop = false;
    std::thread th;

    void loop() {
        for (;;) {
            std::function<void()> op;
            {
                std::unique_lock<std::mutex> g(m);
                cv.wait(g, [&] { return stop || !q.empty(); });
                if (q.empty()) return;
                op = std::move(q.front());
                q.pop_front();
            }
            op();
            op = nullptr;
            std::lock_guard<std::mutex> g(m);
            completed++;
            cv.notify_all();
        }
    }
    void sync() {
        std::unique_lock<std::mutex> g(m);
        uint64_t target = submitted;
        cv.wait(g, [&] { return completed >= target; });
    }
};

struct CUgraph_st {
    std::vector<std::function<void()>> ops;
};
struct CUgraphExec_st {
    std::shared_ptr<const std::vector<std::function<void()>>> ops;
};

struct CUevent_st {
    unsigned flags = 0;
    std::mutex m;
    std::condition_variable cv;
    uint64_t recorded = 0, completed = 0; /* record generations */
    double t_ms = 0;
};

namespace lbemu {
namespace {

thread_local cudaError_t tls_last_error = cudaSuccess;

double now_ms() {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* ---- streams and events registries ---- */
std::mutex g_streams_m;
std::set<CUstream_st *> g_streams;
std::mutex g_events_m;
std::set<CUevent_st *> g_events;
std::atomic<int> g_capturing{0}; /* streams capturing now */

void use(CUstream_st *s) { /* g_streams_m held */
    std::lock_guard<std::mutex> g(s->m);
    s->users++;
}
void unuse(CUstream_st *s) {
    std::lock_guard<std::mutex> g(s->m);
    s->users--;
    s->cv.notify_all();
}
/* The live stream s with a use held, or null. */
CUstream_st *acquire(cudaStream_t s) {
    std::lock_guard<std::mutex> g(g_streams_m);
    if (!s || !g_streams.count(s)) return nullptr;
    use(s);
    return s;
}

void drain(bool all) {
    std::vector<CUstream_st *> v;
    {
        std::lock_guard<std::mutex> g(g_streams_m);
        for (CUstream_st *s : g_streams)
            if (all || !(s->flags & cudaStreamNonBlocking)) {
                use(s);
                v.push_back(s);
            }
    }
    for (CUstream_st *s : v) {
        s->sync();
        unuse(s);
    }
}

bool event_valid(cudaEvent_t e) {
    std::lock_guard<std::mutex> g(g_events_m);
    return e && g_events.count(e);
}

/* ---- memory registry ---- */
struct Alloc {
    size_t size;
    bool device;
};
std::mutex g_mem_m;
std::map<uintptr_t, Alloc> g_allocs;
size_t g_used = 0;

size_t mem_limit() {
    static size_t lim = [] {
        const char *e = getenv("LABSE_EMU_MEM_BYTES");
        unsigned long long v = e ? strtoull(e, nullptr, 10) : 0;
        return v ? (size_t)v : (size_t)8 << 30;
    }();
    return lim;
}

/* The allocation containing p (lock held), or null. */
const std::pair<const uintptr_t, Alloc> *find_alloc(const void *p) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return nullptr;
    --it;
    if (a >= it->first && a - it->first < it->second.size) return &*it;
    return nullptr;
}

enum Side { HOST_SIDE, DEVICE_SIDE, ANY_SIDE };
/* Does [p, p+n) fit the side? Device: inside one device allocation. Host: not in a device
 * allocation (and inside its pinned allocation when it starts in one). */
bool side_ok(const void *p, size_t n, Side want, bool *is_device, bool *is_pinned) {
    std::lock_guard<std::mutex> g(g_mem_m);
    auto *a = find_alloc(p);
    bool dev = a && a->second.device;
    if (is_device) *is_device = dev;
    if (is_pinned) *is_pinned = a && !a->second.device;
    if (want == DEVICE_SIDE && !dev) return false;
    if (want == HOST_SIDE && dev) return false;
    if (a && (uintptr_t)p - a->first + n > a->second.size) return false;
    return true;
}

cudaError_t host_alloc(void **p, size_t size, bool device) {
    if (!p) return set_error(cudaErrorInvalidValue);
    *p = nullptr;
    if (size == 0) return cudaSuccess;
    {
        std::lock_guard<std::mutex> g(g_mem_m);
        if (device && (size > mem_limit() || g_used + size > mem_limit()))
            return set_error(cudaErrorMemoryAllocation);
    }
    void *m = nullptr;
    if (posix_memalign(&m, 256, size) != 0) return set_error(cudaErrorMemoryAllocation);
    if (device) memset(m, 0xff, size); /* poison: never-written fp16 reads as NaN */
    std::lock_guard<std::mutex> g(g_mem_m);
    if (device) {
        if (g_used + size > mem_limit()) { /* lost a race with another allocation */
            free(m);
            return set_error(cudaErrorMemoryAllocation);
        }
        g_used += size;
    }
    g_allocs[(uintptr_t)m] = Alloc{size, device};
    *p = m;
    return cudaSuccess;
}

cudaError_t host_free(void *p, bool device) {
    if (!p) return cudaSuccess;
    drain(true); /* as CUDA: freeing synchronises the device */
    std::lock_guard<std::mutex> g(g_mem_m);
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end() || it->second.device != device)
        return set_error(device ? cudaErrorInvalidDevicePointer : cudaErrorInvalidValue);
    if (device) g_used -= it->second.size;
    g_allocs.erase(it);
    if (device) race_forget(p);
    free(p);
    return cudaSuccess;
}

/* Check a copy; sets *dst_pinned / *src_pinned. */
cudaError_t check_copy(void *dst, const void *src, size_t n, cudaMemcpyKind kind, bool *dst_dev,
                       bool *src_dev, bool *dst_pinned, bool *src_pinned) {
    Side ds, ss;
    switch (kind) {
    case cudaMemcpyHostToHost: ds = HOST_SIDE; ss = HOST_SIDE; break;
    case cudaMemcpyHostToDevice: ds = DEVICE_SIDE; ss = HOST_SIDE; break;
    case cudaMemcpyDeviceToHost: ds = HOST_SIDE; ss = DEVICE_SIDE; break;
    case cudaMemcpyDeviceToDevice: ds = DEVICE_SIDE; ss = DEVICE_SIDE; break;
    case cudaMemcpyDefault: ds = ANY_SIDE; ss = ANY_SIDE; break;
    default: return cudaErrorInvalidMemcpyDirection;
    }
    if (!dst || !src) return cudaErrorInvalidValue;
    if (!side_ok(dst, n, ds, dst_dev, dst_pinned)) return cudaErrorInvalidValue;
    if (!side_ok(src, n, ss, src_dev, src_pinned)) return cudaErrorInvalidValue;
    return cudaSuccess;
}

/* ---- kernel attributes ---- */
std::mutex g_attr_m;
std::map<const void *, size_t> g_max_dyn;

} // namespace

cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) tls_last_error = e;
    return e;
}

bool stream_valid(cudaStream_t s) {
    if (!s) return true;
    std::lock_guard<std::mutex> g(g_streams_m);
    return g_streams.count(s) != 0;
}

cudaError_t stream_submit(cudaStream_t s, std::function<void()> op) {
    if (!s) {
        if (g_capturing.load()) return cudaErrorStreamCaptureImplicit;
        drain(false);
        op();
        return cudaSuccess;
    }
    if (!acquire(s)) return cudaErrorInvalidResourceHandle;
    bool recorded = false;
    {
        std::lock_guard<std::mutex> g(s->m);
        if (s->capture) {
            s->capture->push_back(std::move(op));
            recorded = true;
        } else {
            s->q.push_back(std::move(op));
            s->submitted++;
        }
    }
    if (!recorded) s->cv.notify_all();
    unuse(s);
    return cudaSuccess;
}

/* A synchronising call on stream s: an error (which invalidates the capture) while s captures. */
cudaError_t capture_forbids(CUstream_st *s) {
    std::lock_guard<std::mutex> g(s->m);
    if (!s->capture) return cudaSuccess;
    s->capture_bad = true;
    return cudaErrorStreamCaptureUnsupported;
}

bool dev_range(const void *p, size_t bytes) {
    if (!p) return false;
    return side_ok(p, bytes, DEVICE_SIDE, nullptr, nullptr);
}

size_t smem_optin_limit(void) { return 99 * 1024; /* sm_86/sm_89, the smallest of our targets */ }

/* As CUDA: by default static + dynamic shared memory <= 48 KiB; cudaFuncSetAttribute(
 * cudaFuncAttributeMaxDynamicSharedMemorySize) raises the dynamic part up to the opt-in limit
 * minus the kernel's static shared memory (emu_symbols.cpp measures it). */
size_t kernel_max_dyn_smem(const void *kernel) {
    const size_t st = kernel_static_smem(kernel);
    std::lock_guard<std::mutex> g(g_attr_m);
    auto it = g_max_dyn.find(kernel);
    if (it != g_max_dyn.end()) return it->second;
    return st < 48 * 1024 ? 48 * 1024 - st : 0;
}

bool dev_alloc_of(const void *p, uintptr_t *base, size_t *size) {
    std::lock_guard<std::mutex> g(g_mem_m);
    auto *a = find_alloc(p);
    if (!a || !a->second.device) return false;
    *base = a->first;
    *size = a->second.size;
    return true;
}

} // namespace lbemu

using namespace lbemu;

/* ---- errors ---- */
extern "C" const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorStreamCaptureUnmatched: return "cudaErrorStreamCaptureUnmatched";
    case cudaErrorStreamCaptureImplicit: return "cudaErrorStreamCaptureImplicit";
    case cudaErrorUnknown: return "cudaErrorUnknown";
    }
    return "cudaErrorUnknown";
}

extern "C" const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorStreamCaptureImplicit: return "operation would make the legacy stream depend on a capturing blocking stream";
    case cudaErrorUnknown: return "unknown error";
    }
    return "unrecognized error code";
}

extern "C" cudaError_t cudaGetLastError(void) {
    cudaError_t e = tls_last_error;
    tls_last_error = cudaSuccess;
    return e;
}
extern "C" cudaError_t cudaPeekAtLastError(void) { return tls_last_error; }

/* ---- device ---- */
/* LABSE_EMU_DEVICES=N: pretend there are N GPUs (default 1; 0 = none; at most 16). They
 * share one memory registry and limit; each host thread has its current device. */
static int emu_devices(void) {
    const char *e = getenv("LABSE_EMU_DEVICES");
    if (!e) return 1;
    int n = atoi(e);
    return n < 0 ? 0 : n > 16 ? 16 : n;
}
static bool no_device(void) { return emu_devices() == 0; }
static thread_local int tls_device = 0;

extern "C" cudaError_t cudaGetDeviceCount(int *count) {
    if (!count) return set_error(cudaErrorInvalidValue);
    if (no_device()) {
        *count = 0;
        return set_error(cudaErrorNoDevice);
    }
    *count = emu_devices();
    return cudaSuccess;
}
extern "C" cudaError_t cudaSetDevice(int d) {
    if (no_device()) return set_error(cudaErrorNoDevice);
    if (d < 0 || d >= emu_devices()) return set_error(cudaErrorInvalidDevice);
    tls_device = d;
    return cudaSuccess;
}
extern "C" cudaError_t cudaGetDevice(int *d) {
    if (!d) return set_error(cudaErrorInvalidValue);
    *d = tls_device;
    return cudaSuccess;
}
extern "C" cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (!p) return set_error(cudaErrorInvalidValue);
    if (d < 0 || d >= emu_devices()) return set_error(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "labse CUDA emulator (%d CPU threads)", emu_threads());
    p->totalGlobalMem = mem_limit();
    p->sharedMemPerBlock = 48 * 1024;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024;
    p->maxThreadsDim[1] = 1024;
    p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff;
    p->maxGridSize[1] = 65535;
    p->maxGridSize[2] = 65535;
    p->totalConstMem = 65536;
    p->major = 8; /* the limits of sm_86 (shared memory opt-in 99 KiB) */
    p->minor = 6;
    p->multiProcessorCount = emu_threads();
    p->concurrentKernels = 1;
    p->asyncEngineCount = 1;
    p->unifiedAddressing = 1;
    p->memoryBusWidth = 256;
    p->l2CacheSize = 4 << 20;
    p->maxThreadsPerMultiProcessor = 1536;
    p->sharedMemPerMultiprocessor = 100 * 1024;
    p->sharedMemPerBlockOptin = smem_optin_limit();
    p->maxBlocksPerMultiProcessor = 16;
    return cudaSuccess;
}
extern "C" cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr attr, int d) {
    if (!v) return set_error(cudaErrorInvalidValue);
    if (d < 0 || d >= emu_devices()) return set_error(cudaErrorInvalidDevice);
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *v = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *v = p.maxThreadsDim[0]; break;
    case cudaDevAttrMaxGridDimX: *v = p.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *v = p.maxGridSize[1]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *v = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *v = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *v = p.l2CacheSize; break;
    case cudaDevAttrComputeCapabilityMajor: *v = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *v = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = (int)p.sharedMemPerBlockOptin; break;
    default: return set_error(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}
extern "C" cudaError_t cudaRuntimeGetVersion(int *v) {
    if (!v) return set_error(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}
extern "C" cudaError_t cudaDriverGetVersion(int *v) {
    if (!v) return set_error(cudaErrorInvalidValue);
    *v = CUDART_VERSION;
    return cudaSuccess;
}
extern "C" cudaError_t cudaDeviceSynchronize(void) {
    drain(true);
    return cudaSuccess;
}
extern "C" cudaError_t cudaDeviceReset(void) {
    drain(true);
    return cudaSuccess;
}

/* ---- memory ---- */
extern "C" cudaError_t cudaMalloc(void **p, size_t size) { return host_alloc(p, size, true); }
extern "C" cudaError_t cudaFree(void *p) { return host_free(p, true); }
extern "C" cudaError_t cudaMallocHost(void **p, size_t size) { return host_alloc(p, size, false); }
extern "C" cudaError_t cudaHostAlloc(void **p, size_t size, unsigned int flags) {
    if (flags & ~0x7u) return set_error(cudaErrorInvalidValue);
    return host_alloc(p, size, false);
}
extern "C" cudaError_t cudaFreeHost(void *p) { return host_free(p, false); }
extern "C" cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total) {
    if (!free_b || !total) return set_error(cudaErrorInvalidValue);
    std::lock_guard<std::mutex> g(g_mem_m);
    *total = mem_limit();
    *free_b = mem_limit() - g_used;
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    if (n == 0) return cudaSuccess;
    if (g_capturing.load()) return set_error(cudaErrorStreamCaptureImplicit);
    cudaError_t e = check_copy(dst, src, n, kind, nullptr, nullptr, nullptr, nullptr);
    if (e != cudaSuccess) return set_error(e);
    drain(false);
    memmove(dst, src, n);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                                       cudaStream_t s) {
    if (n == 0) return stream_valid(s) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
    bool dd = false, sd = false, dp = false, sp = false;
    cudaError_t e = check_copy(dst, src, n, kind, &dd, &sd, &dp, &sp);
    if (e != cudaSuccess) return set_error(e);
    if (!stream_valid(s)) return set_error(cudaErrorInvalidResourceHandle);
    if (!sd && !sp && dd) { /* pageable → device: staged now, written in stream order */
        std::shared_ptr<std::vector<char>> stage(new std::vector<char>((const char *)src, (const char *)src + n));
        return set_error(stream_submit(s, [dst, stage] { memcpy(dst, stage->data(), stage->size()); }));
    }
    if (sd && !dd && !dp) { /* device → pageable: the call returns after the copy */
        e = stream_submit(s, [dst, src, n] { memmove(dst, src, n); });
        if (e == cudaSuccess && s) return cudaStreamSynchronize(s);
        return set_error(e);
    }
    return set_error(stream_submit(s, [dst, src, n] { memmove(dst, src, n); }));
}

extern "C" cudaError_t cudaMemset(void *p, int v, size_t n) {
    if (n == 0) return cudaSuccess;
    if (!dev_range(p, n)) return set_error(cudaErrorInvalidValue);
    drain(false);
    memset(p, v, n);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    if (n == 0) return stream_valid(s) ? cudaSuccess : set_error(cudaErrorInvalidResourceHandle);
    if (!dev_range(p, n)) return set_error(cudaErrorInvalidValue);
    return set_error(stream_submit(s, [p, v, n] { memset(p, v, n); }));
}

/* ---- streams ---- */
extern "C" cudaError_t cudaStreamCreateWithFlags(cudaStream_t *ps, unsigned int flags) {
    if (!ps || (flags & ~1u)) return set_error(cudaErrorInvalidValue);
    CUstream_st *s = new CUstream_st;
    s->flags = flags;
    s->th = std::thread([s] { s->loop(); });
    {
        std::lock_guard<std::mutex> g(g_streams_m);
        g_streams.insert(s);
    }
    *ps = s;
    return cudaSuccess;
}
extern "C" cudaError_t cudaStreamCreate(cudaStream_t *ps) { return cudaStreamCreateWithFlags(ps, 0); }

/* Waits for the stream's work (CUDA returns at once and finishes it in the background). */
extern "C" cudaError_t cudaStreamDestroy(cudaStream_t s) {
    if (!s) return set_error(cudaErrorInvalidResourceHandle);
    {
        std::lock_guard<std::mutex> g(g_streams_m);
        if (!g_streams.erase(s)) return set_error(cudaErrorInvalidResourceHandle);
    }
    {
        std::unique_lock<std::mutex> g(s->m);
        s->cv.wait(g, [&] { return s->users == 0; });
        s->stop = true;
    }
    s->cv.notify_all();
    s->th.join();
    delete s;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    if (!s) {
        drain(false);
        return cudaSuccess;
    }
    if (!acquire(s)) return set_error(cudaErrorInvalidResourceHandle);
    if (cudaError_t ce = capture_forbids(s)) {
        unuse(s);
        return set_error(ce);
    }
    s->sync();
    unuse(s);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamQuery(cudaStream_t s) {
    if (!s) {
        std::lock_guard<std::mutex> g(g_streams_m);
        for (CUstream_st *x : g_streams) {
            std::lock_guard<std::mutex> g2(x->m);
            if (!(x->flags & cudaStreamNonBlocking) && x->completed < x->submitted) return cudaErrorNotReady;
        }
        return cudaSuccess;
    }
    if (!acquire(s)) return set_error(cudaErrorInvalidResourceHandle);
    if (cudaError_t ce = capture_forbids(s)) {
        unuse(s);
        return set_error(ce);
    }
    bool busy;
    {
        std::lock_guard<std::mutex> g(s->m);
        busy = s->completed < s->submitted;
    }
    unuse(s);
    return busy ? cudaErrorNotReady : cudaSuccess; /* NotReady is not recorded as an error */
}

/* ---- events ---- */
extern "C" cudaError_t cudaEventCreateWithFlags(cudaEvent_t *pe, unsigned int flags) {
    if (!pe || (flags & ~0x7u)) return set_error(cudaErrorInvalidValue);
    CUevent_st *e = new CUevent_st;
    e->flags = flags;
    std::lock_guard<std::mutex> g(g_events_m);
    g_events.insert(e);
    *pe = e;
    return cudaSuccess;
}
extern "C" cudaError_t cudaEventCreate(cudaEvent_t *pe) { return cudaEventCreateWithFlags(pe, 0); }

/* The caller must not destroy an event that queued work still refers to before that work ran
 * (CUDA defers the release; the emulator waits for the event's pending records instead). */
extern "C" cudaError_t cudaEventDestroy(cudaEvent_t e) {
    {
        std::lock_guard<std::mutex> g(g_events_m);
        if (!e || !g_events.erase(e)) return set_error(cudaErrorInvalidResourceHandle);
    }
    {
        std::unique_lock<std::mutex> g(e->m);
        e->cv.wait(g, [&] { return e->completed >= e->recorded; });
    }
    delete e;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    if (!event_valid(e)) return set_error(cudaErrorInvalidResourceHandle);
    if (!stream_valid(s)) return set_error(cudaErrorInvalidResourceHandle);
    uint64_t gen;
    {
        std::lock_guard<std::mutex> g(e->m);
        gen = ++e->recorded;
    }
    return set_error(stream_submit(s, [e, gen] {
        std::lock_guard<std::mutex> g(e->m);
        if (e->completed < gen) {
            e->completed = gen;
            e->t_ms = now_ms();
        }
        e->cv.notify_all();
    }));
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    if (!event_valid(e)) return set_error(cudaErrorInvalidResourceHandle);
    std::unique_lock<std::mutex> g(e->m);
    uint64_t target = e->recorded;
    e->cv.wait(g, [&] { return e->completed >= target; });
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventQuery(cudaEvent_t e) {
    if (!event_valid(e)) return set_error(cudaErrorInvalidResourceHandle);
    std::lock_guard<std::mutex> g(e->m);
    return e->completed >= e->recorded ? cudaSuccess : cudaErrorNotReady;
}

extern "C" cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int flags) {
    if (!event_valid(e) || !stream_valid(s)) return set_error(cudaErrorInvalidResourceHandle);
    if (flags != 0) return set_error(cudaErrorInvalidValue);
    uint64_t target;
    {
        std::lock_guard<std::mutex> g(e->m);
        target = e->recorded;
    }
    if (target == 0) return cudaSuccess; /* never recorded: nothing to wait for */
    return set_error(stream_submit(s, [e, target] {
        std::unique_lock<std::mutex> g(e->m);
        e->cv.wait(g, [&] { return e->completed >= target; });
    }));
}

extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    if (!ms) return set_error(cudaErrorInvalidValue);
    if (!event_valid(a) || !event_valid(b)) return set_error(cudaErrorInvalidResourceHandle);
    if ((a->flags | b->flags) & cudaEventDisableTiming) return set_error(cudaErrorInvalidResourceHandle);
    uint64_t ar, ac, br, bc;
    double at, bt;
    {
        std::lock_guard<std::mutex> g(a->m);
        ar = a->recorded, ac = a->completed, at = a->t_ms;
    }
    {
        std::lock_guard<std::mutex> g(b->m);
        br = b->recorded, bc = b->completed, bt = b->t_ms;
    }
    if (ar == 0 || br == 0) return set_error(cudaErrorInvalidResourceHandle);
    if (ac < ar || bc < br) return set_error(cudaErrorNotReady);
    *ms = (float)(bt - at);
    return cudaSuccess;
}

/* ---- kernel attributes ---- */
extern "C" cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
    if (!func) return set_error(cudaErrorInvalidDeviceFunction);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value + kernel_static_smem(func) > smem_optin_limit())
            return set_error(cudaErrorInvalidValue);
        std::lock_guard<std::mutex> g(g_attr_m);
        g_max_dyn[func] = (size_t)value;
        return cudaSuccess;
    }
    if (attr == cudaFuncAttributePreferredSharedMemoryCarveout) return cudaSuccess;
    return set_error(cudaErrorInvalidValue);
}

/* ---- CUDA Graphs (stream capture; see cuda_emu.h) ---- */
extern "C" cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode) {
    if ((unsigned)mode > 2u) return set_error(cudaErrorInvalidValue);
    if (!s) return set_error(cudaErrorStreamCaptureUnsupported); /* the legacy stream cannot */
    if (!acquire(s)) return set_error(cudaErrorInvalidResourceHandle);
    cudaError_t e = cudaSuccess;
    {
        std::lock_guard<std::mutex> g(s->m);
        if (s->capture) e = cudaErrorStreamCaptureUnsupported;
        else {
            s->capture = std::make_shared<std::vector<std::function<void()>>>();
            s->capture_bad = false;
            g_capturing++;
        }
    }
    unuse(s);
    return set_error(e);
}

extern "C" cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *pg) {
    if (!pg) return set_error(cudaErrorInvalidValue);
    *pg = nullptr;
    if (!s) return set_error(cudaErrorStreamCaptureUnmatched);
    if (!acquire(s)) return set_error(cudaErrorInvalidResourceHandle);
    std::shared_ptr<std::vector<std::function<void()>>> ops;
    bool bad;
    {
        std::lock_guard<std::mutex> g(s->m);
        ops.swap(s->capture);
        bad = s->capture_bad;
        s->capture_bad = false;
    }
    unuse(s);
    if (!ops) return set_error(cudaErrorStreamCaptureUnmatched);
    g_capturing--;
    if (bad) return set_error(cudaErrorStreamCaptureInvalidated);
    *pg = new CUgraph_st{std::move(*ops)};
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamIsCapturing(cudaStream_t s, enum cudaStreamCaptureStatus *st) {
    if (!st) return set_error(cudaErrorInvalidValue);
    *st = cudaStreamCaptureStatusNone;
    if (!s) return cudaSuccess;
    if (!acquire(s)) return set_error(cudaErrorInvalidResourceHandle);
    {
        std::lock_guard<std::mutex> g(s->m);
        if (s->capture)
            *st = s->capture_bad ? cudaStreamCaptureStatusInvalidated : cudaStreamCaptureStatusActive;
    }
    unuse(s);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pe, cudaGraph_t g, unsigned long long flags) {
    if (!pe || !g || flags) return set_error(cudaErrorInvalidValue);
    *pe = new CUgraphExec_st{std::make_shared<const std::vector<std::function<void()>>>(g->ops)};
    return cudaSuccess;
}

/* One replay: the recorded ops, in order, as one item of the stream's FIFO. */
extern "C" cudaError_t cudaGraphLaunch(cudaGraphExec_t ge, cudaStream_t s) {
    if (!ge) return set_error(cudaErrorInvalidValue);
    if (!stream_valid(s)) return set_error(cudaErrorInvalidResourceHandle);
    std::shared_ptr<const std::vector<std::function<void()>>> ops = ge->ops;
    return set_error(stream_submit(s, [ops] {
        for (const std::function<void()> &op : *ops) op();
    }));
}

extern "C" cudaError_t cudaGraphExecDestroy(cudaGraphExec_t ge) {
    if (!ge) return set_error(cudaErrorInvalidValue);
    delete ge; /* a queued replay keeps the ops alive (shared) until it ran */
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    if (!g) return set_error(cudaErrorInvalidValue);
    delete g;
    return cudaSuccess;
}
