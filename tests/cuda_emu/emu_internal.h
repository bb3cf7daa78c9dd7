/* emu_internal.h — shared between the emulator's .cpp files (not for kernels or host code). */
#ifndef LB_EMU_INTERNAL_H
#define LB_EMU_INTERNAL_H

#include <stdint.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda_emu.h"

namespace lbemu {

/* Record e as the calling host thread's last error (when not cudaSuccess); returns e. */
cudaError_t set_error(cudaError_t e);

/* Run `op` in `stream`'s order: NULL (legacy default stream) → wait for the blocking streams,
 * then run inline; else append to the stream's FIFO (its worker thread runs it). A stream
 * handle that is not live → cudaErrorInvalidResourceHandle (op not run). */
cudaError_t stream_submit(cudaStream_t stream, std::function<void()> op);
bool stream_valid(cudaStream_t stream);

/* True when [p, p + bytes) lies inside one cudaMalloc allocation. */
bool dev_range(const void *p, size_t bytes);

/* The dynamic shared memory limit of a kernel (48 KiB, or what cudaFuncSetAttribute set). */
size_t kernel_max_dyn_smem(const void *kernel);
size_t smem_optin_limit(void);

/* The cudaMalloc allocation holding p: its start and size (false when p is in none). */
bool dev_alloc_of(const void *p, uintptr_t *base, size_t *size);

/* ---- the module's symbols (emu_symbols.cpp; thread-safe, read once) ---- */
/* A static __shared__ variable: TLS-segment offset, size, mangled name. */
struct SharedVar {
    size_t off, size;
    std::string name;
};
bool symbols_ok(void);                          /* the module has a symbol table */
const std::vector<SharedVar> &shared_vars(void); /* all of them, sorted by offset */
uintptr_t tls_block_base(void);                 /* the calling OS thread's TLS block */
size_t kernel_static_smem(const void *kernel);  /* bytes of the kernel's own __shared__ */
std::string kernel_symbol(const void *kernel); /* demangled; "" when unknown */
std::string demangle(const std::string &name);

/* ---- the race checker (emu_race.cpp); all calls on the OS thread that runs the block ---- */
/* LABSE_EMU_RACECHECK=1 (aborts when the kernels were built without instrumentation). */
bool race_enabled(void);
uint32_t race_new_epoch(void); /* one per launch: global-memory writes are compared per launch */
void race_block_begin(const char *kernel, dim3 grid, dim3 block, uint64_t block_lin, uint32_t epoch,
                      const char *dyn, size_t smem);
void race_thread(unsigned lin, const char *stack_lo, size_t stack_size); /* before resuming a fiber */
void race_barrier(void);            /* a __syncthreads released the block */
void race_syncwarp(unsigned warp);  /* a __syncwarp released warp `warp` */
void race_block_end(void);
void race_forget(const void *dev_base); /* cudaFree: drop the allocation's shadow */

/* Number of OS threads that run blocks (LABSE_EMU_THREADS, default: all cores). */
int emu_threads(void);

/* Print "labse CUDA emulator: <msg>" and abort (device-side misuse). */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace lbemu

#endif
