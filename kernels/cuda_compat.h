/* cuda_compat.h — the one CUDA include of the GPU backend, for kernels (.cu, C++) and for the
 * host side (src/gpu/, C11).
 *
 * Real build (nvcc):   the CUDA runtime, cuBLASLt, and in device code cuda_fp16.h, cuda_fp8.h
 *                      and mma.h.
 * Emulation build (-DLABSE_CUDA_EMU, kernels compiled as C++ by the host compiler):
 *                      tests/cuda_emu/cuda_emu.h, which declares the same names (the runtime subset and
 *                      the cuBLASLt subset we use) over host memory, CPU threads and a CPU GEMM,
 *                      and, in C++, cuda_emu_device.h (thread indices, __shared__,
 *                      __syncthreads, warp shuffles, atomics, __half, FP8 E4M3, nvcuda::wmma).
 *
 * Kernels are plain CUDA. The only thing they write differently is the launch:
 *     LB_LAUNCH(kernel, grid, block, smem_bytes, stream, arg0, arg1, ...);
 * which is kernel<<<grid, block, smem_bytes, stream>>>(args...) on nvcc and a call into the
 * emulator's launcher otherwise. A template kernel goes through a pointer first, because the
 * preprocessor splits on its commas:  auto k = attn_kernel<64, 32>; LB_LAUNCH(k, ...);
 * Dynamic shared memory: LB_DYN_SMEM(type, name); declares `type *name` (extern __shared__). */
#ifndef LB_CUDA_COMPAT_H
#define LB_CUDA_COMPAT_H

#include <stdint.h>

#ifdef LABSE_CUDA_EMU
#include "cuda_emu.h"
#else
#ifdef __cplusplus
#include <cuda_runtime.h>
#else
#include <cuda_runtime_api.h>
#endif
#include <cublasLt.h>
#ifdef __CUDACC__
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <mma.h>
#endif
#define LB_LAUNCH(kernel, grid, block, smem, stream, ...) \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define LB_DYN_SMEM(type, name) extern __shared__ type name[]
#endif

/* fp16 values as host C code sees them: the IEEE binary16 bits. Kernels cast to __half. */
typedef uint16_t lb_half;

#ifdef __cplusplus
#define LB_EXTERN_C_BEGIN extern "C" {
#define LB_EXTERN_C_END }
#else
#define LB_EXTERN_C_BEGIN
#define LB_EXTERN_C_END
#endif

#endif
