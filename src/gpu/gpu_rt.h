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

#endif
