/* gpu_rt.h — the CUDA runtime and cuBLASLt as seen by the host files of the GPU backend
 * (src/gpu/): kernels/cuda_compat.h (real CUDA or the emulator) plus the checking macros
 * that turn every failed call into LABSE_E_CUDA naming the call, file and line. Internal. */
#ifndef LB_GPU_RT_H
#define LB_GPU_RT_H

#include "base/common.h"
#include "cuda_compat.h"

/* Fill err from a failed CUDA runtime call; returns LABSE_E_CUDA. Out-of-memory errors say so
 * and name --batch-tokens when `what` concerns activations. */
labse_status lb_cuda_fail(labse_error *err, cudaError_t e, const char *call, const char *file,
                          int line);
/* Same for a cuBLASLt status. */
labse_status lb_cublas_fail(labse_error *err, cublasStatus_t s, const char *call,
                            const char *file, int line);

/* Evaluate a CUDA runtime call; on failure fill err and `goto fail` with st set. */
#define LB_CU(call)                                                                   \
    do {                                                                              \
        cudaError_t lb_e_ = (call);                                                   \
        if (lb_e_ != cudaSuccess) {                                                   \
            st = lb_cuda_fail(err, lb_e_, #call, __FILE__, __LINE__);                 \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

/* Same for a cuBLASLt call. */
#define LB_BL(call)                                                                   \
    do {                                                                              \
        cublasStatus_t lb_s_ = (call);                                                \
        if (lb_s_ != CUBLAS_STATUS_SUCCESS) {                                         \
            st = lb_cublas_fail(err, lb_s_, #call, __FILE__, __LINE__);               \
            goto fail;                                                                \
        }                                                                             \
    } while (0)

/* The alignment cuBLASLt may assume for a buffer: the largest power of two <= 256 that divides
 * its address (CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES; cuBLASLt assumes 256 when not told). */
static inline uint32_t lb_lt_align(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a >>= 1;
    return a;
}

/* cuBLASLt's best algorithm for desc and the layouts a, b, c, d with at most `workspace` bytes
 * of workspace and buffers aligned to align[0..3] bytes (A, B, C, D; from lb_lt_align of the
 * pointers the algorithm will be used with). Returns 1 and fills *algo, or 0 when the
 * heuristic finds nothing (callers then pass a NULL algo: cuBLASLt chooses per call).
 * Thread-safety: as cuBLASLt (h used by one thread at a time). In gpu_gemm.c. */
int lb_lt_pick(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
               cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
               size_t workspace, const uint32_t align[4], cublasLtMatmulAlgo_t *algo);

#endif
