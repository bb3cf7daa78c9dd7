/* gpu_device.c — CUDA device discovery and selection, pinned host memory, and the conversion
 * of CUDA / cuBLASLt failures into labse_error (LABSE_E_CUDA: call, file, line, message). */
#include <stdio.h>
#include <string.h>

#include "gpu/gpu.h"
#include "gpu/gpu_rt.h"

labse_status lb_cuda_fail(labse_error *err, cudaError_t e, const char *call, const char *file,
                          int line) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (e == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError(); /* do not let the failed allocation stick to later calls */
        if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) free_b = total_b = 0;
        return lb_err(err, LABSE_E_CUDA,
                      "GPU out of memory in %s (%s:%d): %s; %.0f MiB free of %.0f MiB — lower "
                      "the batch token budget, option batch_tokens (activations grow with it) or use a GPU with more memory",
                      call, base, line, cudaGetErrorString(e), free_b / 1048576.0,
                      total_b / 1048576.0);
    }
    return lb_err(err, LABSE_E_CUDA, "%s failed (%s:%d): %s: %s", call, base, line,
                  cudaGetErrorName(e), cudaGetErrorString(e));
}

labse_status lb_cublas_fail(labse_error *err, cublasStatus_t s, const char *call,
                            const char *file, int line) {
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    return lb_err(err, LABSE_E_CUDA, "%s failed (%s:%d): %s: %s", call, base, line,
                  cublasLtGetStatusName(s), cublasLtGetStatusString(s));
}

int lb_gpu_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear: "no device" must not poison later calls */
        return 0;
    }
    return n;
}

int lb_gpu_is_emulated(void) {
#ifdef LABSE_CUDA_EMU
    return 1;
#else
    return 0;
#endif
}

labse_status lb_gpu_device_check(int device, char *name, size_t name_size, labse_error *err) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lb_err(err, LABSE_E_UNSUPPORTED, "device cuda: no usable CUDA device (%s)",
                      cudaGetErrorString(e));
    }
    if (n < 1) return lb_err(err, LABSE_E_UNSUPPORTED, "device cuda: no CUDA device found");
    if (device < 0 || device >= n)
        return lb_err(err, LABSE_E_UNSUPPORTED, "device cuda:%d: only %d CUDA device%s (0..%d)",
                      device, n, n == 1 ? "" : "s", n - 1);
    if (name && name_size) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, device) == cudaSuccess) {
            snprintf(name, name_size, "%s", p.name);
        } else {
            cudaGetLastError();
            snprintf(name, name_size, "cuda:%d", device);
        }
    }
    return LABSE_OK;
}

void *lb_gpu_host_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaHostAlloc(&p, bytes ? bytes : 64, cudaHostAllocPortable) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    return p;
}

void lb_gpu_host_free(void *p) {
    if (p) cudaFreeHost(p);
}
