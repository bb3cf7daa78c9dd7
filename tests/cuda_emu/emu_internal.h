/* emu_internal.h — shared between the emulator's .cpp files (not for kernels or host code). */
#ifndef LB_EMU_INTERNAL_H
#define LB_EMU_INTERNAL_H

#include <functional>

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

/* Number of OS threads that run blocks (LABSE_EMU_THREADS, default: all cores). */
int emu_threads(void);

/* Print "labse CUDA emulator: <msg>" and abort (device-side misuse). */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

} // namespace lbemu

#endif
