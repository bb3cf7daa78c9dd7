/* cuda_emu.h — a CPU emulator of the CUDA runtime subset and the cuBLASLt subset labse uses,
 * with the real API's names, so the kernels (.cu) and src/gpu/ build and run without nvcc or a GPU
 * (LABSE_CUDA_EMU build; included through kernels/cuda_compat.h). The C part below is valid C11
 * and C++; C++ also gets cuda_emu_device.h (built-ins, __half, wmma) and LB_LAUNCH.
 *
 * Model: device memory is host memory (recorded in a registry: copies are checked for kind and
 * bounds); each block's threads run as cooperative fibers on one OS thread, blocks of a launch
 * spread over LABSE_EMU_THREADS OS threads (default: all cores); each non-default stream is a
 * FIFO run by its own thread, asynchronously to the host; the legacy default stream is
 * synchronous. cuBLASLt matmuls run as an fp32 OpenBLAS sgemm. Environment: LABSE_EMU_THREADS,
 * LABSE_EMU_MEM_BYTES (device memory limit, default 8 GiB), LABSE_EMU_STACK_KB (fiber stack,
 * default 256), LABSE_EMU_SCHEDULE (forward | reverse | random:SEED: the order a block's threads
 * are resumed in, and for random also the order blocks are claimed in), LABSE_EMU_DEVICES (how
 * many GPUs to pretend, default 1; 0 = none; they share one memory registry),
 * LABSE_EMU_RACECHECK=1 (the race checker, below).
 *
 * Shared memory: static __shared__ + dynamic bytes of a block may not exceed 48 KiB unless
 * cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) opted in (up to the device's
 * sharedMemPerBlockOptin, 99 KiB as sm_86, less the static part): otherwise the launch fails with
 * cudaErrorInvalidConfiguration. A kernel's static bytes come from the module's symbol table
 * (emu_symbols.cpp: the kernel's own function-local __shared__; not those of __device__ helpers).
 *
 * Race checker (emu_race.cpp; LABSE_EMU_RACECHECK=1 in an emulation build without ASan, whose
 * kernels carry GCC's ThreadSanitizer instrumentation): like compute-sanitizer's racecheck, two
 * threads of a block touching a shared byte, one writing, with no __syncthreads between them (for
 * lanes of one warp: nor __syncwarp) abort the process with the kernel, the two threads and the
 * shared variable and offset; so do two threads of one launch writing one global byte (any
 * blocks; atomics excepted). wmma loads/stores count once, as the warp's.
 *
 * What it cannot model: the memory model and fences (each fiber sees all writes at once; the race
 * checker finds the missing barriers that make this matter), timing and performance, read-write
 * races on global memory between blocks (only write-write is checked), the GPU's element-to-lane
 * mapping of wmma fragments (here every lane holds the whole tile), partial warp masks and
 * partial warps in collectives (they abort), the exact error of fast-math intrinsics (__expf is
 * expf), bank conflicts, texture and TMA engines (cp.async, ldmatrix and mma.sync m16n8k16 are
 * modelled with the real lane layouts, cp.async copying at its wait_group: emu_mma.h; their
 * shared-memory accesses go through memcpy, which the race checker does not see). Device-side
 * misuse it does detect (deadlocked barriers, divergent collectives, bad wmma ldm, races,
 * cp.async copies a block leaves pending, misaligned ldmatrix / cp.async) aborts the process
 * with a message naming the kernel.
 */
#ifndef LB_CUDA_EMU_H
#define LB_CUDA_EMU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors (values as in driver_types.h) ---- */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidDeviceFunction = 98,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801,
    cudaErrorStreamCaptureUnsupported = 900,
    cudaErrorStreamCaptureInvalidated = 901,
    cudaErrorStreamCaptureUnmatched = 903,
    cudaErrorStreamCaptureImplicit = 906,
    cudaErrorUnknown = 999
} cudaError_t;

const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
/* Per host thread, as in CUDA: every failing call records its error; Get returns and clears. */
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);

/* ---- device ---- */
typedef struct cudaDeviceProp { /* a subset of the real struct's fields, same names */
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    size_t totalConstMem;
    int major;
    int minor;
    int multiProcessorCount;
    int concurrentKernels;
    int asyncEngineCount;
    int unifiedAddressing;
    int memoryBusWidth;
    int l2CacheSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    size_t sharedMemPerBlockOptin;
    int maxBlocksPerMultiProcessor;
} cudaDeviceProp;

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxBlockDimX = 2,
    cudaDevAttrMaxGridDimX = 5,
    cudaDevAttrMaxGridDimY = 6,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrL2CacheSize = 38,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
#define CUDART_VERSION 13000
cudaError_t cudaRuntimeGetVersion(int *version); /* CUDART_VERSION */
cudaError_t cudaDriverGetVersion(int *version);  /* CUDART_VERSION */
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaDeviceReset(void); /* drains all work; allocations stay (unlike CUDA) */

/* ---- memory ---- */
enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};
#define cudaHostAllocDefault 0x00
#define cudaHostAllocPortable 0x01
#define cudaHostAllocMapped 0x02
#define cudaHostAllocWriteCombined 0x04

cudaError_t cudaMalloc(void **devPtr, size_t size);
cudaError_t cudaFree(void *devPtr);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemGetInfo(size_t *free, size_t *total);

/* ---- streams and events ---- */
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemset(void *devPtr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream);

cudaError_t cudaStreamCreate(cudaStream_t *pStream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags);

cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* ---- CUDA Graphs by stream capture (the subset labse uses; the real API's names) ----
 * Between cudaStreamBeginCapture(s) and cudaStreamEndCapture(s) the work queued on s (kernels,
 * async copies and memsets, cuBLASLt matmuls, event records) is recorded, not run. While s
 * captures, cudaStreamSynchronize / cudaStreamQuery of s are errors
 * (cudaErrorStreamCaptureUnsupported, and they invalidate the capture: EndCapture then fails
 * with cudaErrorStreamCaptureInvalidated), and so is work on the legacy default stream, which
 * would wait for s (cudaErrorStreamCaptureImplicit). cudaGraphInstantiate copies the recorded
 * list; cudaGraphLaunch queues one replay of it on a stream (the recorded arguments, as in
 * CUDA: pointers and values fixed at capture). A graph is one linear chain (one stream). */
typedef struct CUgraph_st *cudaGraph_t;
typedef struct CUgraphExec_st *cudaGraphExec_t;
enum cudaStreamCaptureMode {
    cudaStreamCaptureModeGlobal = 0,
    cudaStreamCaptureModeThreadLocal = 1,
    cudaStreamCaptureModeRelaxed = 2
};
enum cudaStreamCaptureStatus {
    cudaStreamCaptureStatusNone = 0,
    cudaStreamCaptureStatusActive = 1,
    cudaStreamCaptureStatusInvalidated = 2
};
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *pStatus);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
                                 unsigned long long flags);
cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

/* ---- kernel attributes (only the dynamic shared memory limit has an effect: see the header) ---- */
enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9
};
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value);

/* ---- dim3 / uint3 ---- */
#ifdef __cplusplus
} /* extern "C" */
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};
extern "C" {
#else
typedef struct uint3 { unsigned int x, y, z; } uint3;
typedef struct dim3 { unsigned int x, y, z; } dim3;
#endif

/* ---- cuBLASLt subset (cublasLt.h names; column-major; fp32 compute) ---- */
typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_ARCH_MISMATCH = 8,
    CUBLAS_STATUS_MAPPING_ERROR = 11,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_INTERNAL_ERROR = 14,
    CUBLAS_STATUS_NOT_SUPPORTED = 15
} cublasStatus_t;

typedef enum cudaDataType_t {
    CUDA_R_32F = 0,
    CUDA_R_16F = 2,
    CUDA_R_16BF = 14,
    CUDA_R_8F_E4M3 = 28, /* one byte: emu_fp8.h */
    CUDA_R_8F_E5M2 = 29  /* declared only: not emulated (NOT_SUPPORTED) */
} cudaDataType_t, cudaDataType;

typedef enum {
    CUBLAS_COMPUTE_16F = 64,
    CUBLAS_COMPUTE_32F = 68,
    CUBLAS_COMPUTE_32F_FAST_16F = 74,
    CUBLAS_COMPUTE_32F_FAST_16BF = 75,
    CUBLAS_COMPUTE_32F_FAST_TF32 = 77
} cublasComputeType_t;

typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;

typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct cublasLtMatmulDescOpaque_emu *cublasLtMatmulDesc_t;
typedef struct cublasLtMatrixLayoutOpaque_emu *cublasLtMatrixLayout_t;
typedef struct cublasLtMatmulPreferenceOpaque_emu *cublasLtMatmulPreference_t;

typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo_t;
typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;

typedef enum {
    CUBLASLT_MATMUL_DESC_COMPUTE_TYPE = 0,
    CUBLASLT_MATMUL_DESC_SCALE_TYPE = 1,
    CUBLASLT_MATMUL_DESC_POINTER_MODE = 2,
    CUBLASLT_MATMUL_DESC_TRANSA = 3,
    CUBLASLT_MATMUL_DESC_TRANSB = 4,
    CUBLASLT_MATMUL_DESC_TRANSC = 5,
    CUBLASLT_MATMUL_DESC_FILL_MODE = 6,
    CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
    CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
    CUBLASLT_MATMUL_DESC_A_SCALE_POINTER = 17,
    CUBLASLT_MATMUL_DESC_B_SCALE_POINTER = 18,
    CUBLASLT_MATMUL_DESC_D_SCALE_POINTER = 20,
    CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,
    CUBLASLT_MATMUL_DESC_A_SCALE_MODE = 31,
    CUBLASLT_MATMUL_DESC_B_SCALE_MODE = 32
} cublasLtMatmulDescAttributes_t;

/* FP8 matmuls (A and B CUDA_R_8F_E4M3): only TN (TRANSA = T, TRANSB = N, as Hopper requires),
 * CUBLAS_COMPUTE_32F, C and D of one type (fp16, bf16 or fp32). A/B scale pointers: device fp32;
 * NULL = 1. Modes (int32_t, the same for A and B): SCALAR_32F (one value each) or OUTER_VEC_32F
 * (A's vector has m values, one per row of D; B's n, one per column of D):
 *     D[i][j] = alpha · (acc[i][j] · sa[i] · sb[j]) + beta · C[i][j], then bias and activation,
 * acc the fp32 sum of the exact E4M3 products. The scales are read when the matmul runs (device
 * memory, like the GPU). Scale pointers on a non-FP8 matmul: INVALID_VALUE.
 * LABSE_EMU_LT_NO_OUTER_VEC=1 (environment, read per call): the heuristic finds no algorithm
 * for OUTER_VEC_32F (NOT_SUPPORTED, as a cuBLASLt without one would), and so does a matmul
 * with a NULL algo — to test a caller's fallback.
 * FP8 output (D CUDA_R_8F_E4M3; C must then be fp16 or bf16, the type of a bias unless
 * BIAS_DATA_TYPE says fp32): after the epilogue above (scales, alpha, bias, activation, in
 * fp32), D_SCALE_POINTER (device fp32, one value; NULL = 1) multiplies the value, one fp32
 * product, and the E4M3 code is that product rounded to nearest even with saturation to
 * ±448 (emu_fp8.h's SATFINITE; NaN → 0x7F):
 *     D[i][j] = E4M3_satfinite(fp32(epilogue(...)[i][j] · scale_D))
 * (cuBLASLt's D = scale_D · Epilogue(...): the scale multiplies after bias and activation).
 * Not emulated, so refused with NOT_SUPPORTED: beta != 0 with an fp8 D (no C input), an fp8
 * D without FP8 A/B. D_SCALE_POINTER with a D that is not E4M3: INVALID_VALUE. */
typedef enum {
    CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F = 0,
    CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F = 3
} cublasLtMatmulMatrixScale_t;

/* GELU: like the real library, the tanh approximation 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))),
 * NOT erf. Bias: one value per row of D (length m), added before the activation. */
typedef enum {
    CUBLASLT_EPILOGUE_DEFAULT = 1,
    CUBLASLT_EPILOGUE_RELU = 2,
    CUBLASLT_EPILOGUE_BIAS = 4,
    CUBLASLT_EPILOGUE_RELU_BIAS = 6,
    CUBLASLT_EPILOGUE_GELU = 32,
    CUBLASLT_EPILOGUE_GELU_BIAS = 36
} cublasLtEpilogue_t;

typedef enum {
    CUBLASLT_MATRIX_LAYOUT_TYPE = 0,
    CUBLASLT_MATRIX_LAYOUT_ORDER = 1,
    CUBLASLT_MATRIX_LAYOUT_ROWS = 2,
    CUBLASLT_MATRIX_LAYOUT_COLS = 3,
    CUBLASLT_MATRIX_LAYOUT_LD = 4,
    CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
    CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6
} cublasLtMatrixLayoutAttribute_t;

typedef enum { CUBLASLT_ORDER_COL = 0, CUBLASLT_ORDER_ROW = 1 } cublasLtOrder_t;

/* MIN_ALIGNMENT_*: uint32_t, default 256 (as cuBLASLt): the heuristic picks only algorithms that
 * work with buffers this aligned; the emulator records the alignment in the algo and
 * cublasLtMatmul rejects (INVALID_VALUE) a pointer, or a leading dimension in bytes, the algo's
 * alignment does not divide. A NULL algo is chosen per call from the real pointers. */
typedef enum {
    CUBLASLT_MATMUL_PREF_SEARCH_MODE = 0,
    CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8
} cublasLtMatmulPreferenceAttributes_t;

cublasStatus_t cublasLtCreate(cublasLtHandle_t *handle);
cublasStatus_t cublasLtDestroy(cublasLtHandle_t handle);
const char *cublasLtGetStatusString(cublasStatus_t status);
const char *cublasLtGetStatusName(cublasStatus_t status);
cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *matmulDesc,
                                        cublasComputeType_t computeType, cudaDataType_t scaleType);
cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t matmulDesc);
cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t matmulDesc,
                                              cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t sizeInBytes);
cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *matLayout, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld);
cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t matLayout);
cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t matLayout,
                                                cublasLtMatrixLayoutAttribute_t attr,
                                                const void *buf, size_t sizeInBytes);
cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *pref);
cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t pref);
cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t pref,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t sizeInBytes);
cublasStatus_t cublasLtMatmulAlgoGetHeuristic(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc,
    cublasLtMatrixLayout_t Adesc, cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc,
    cublasLtMatrixLayout_t Ddesc, cublasLtMatmulPreference_t preference, int requestedAlgoCount,
    cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int *returnAlgoCount);
cublasStatus_t cublasLtMatmul(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc,
                              const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc,
                              const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
                              const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                              cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo,
                              void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream);

#ifdef __cplusplus
} /* extern "C" */

/* C++: a function pointer does not convert to const void * implicitly (CUDA has this too). */
template <class T>
static inline cudaError_t cudaFuncSetAttribute(T *func, enum cudaFuncAttribute attr, int value) {
    return cudaFuncSetAttribute((const void *)func, attr, value);
}

#include "cuda_emu_device.h"

/* LB_LAUNCH(k, grid, block, smem, stream, args...): like k<<<grid, block, smem, stream>>>(args):
 * the arguments are converted to the kernel's parameter types and copied once, at the call;
 * the launch is checked (an error goes to cudaGetLastError) and enqueued on `stream`. */
#define LB_LAUNCH(kernel, grid, block, smem, stream, ...)                                    \
    lb_emu_make_launcher((kernel), dim3(grid), dim3(block), (size_t)(smem), (stream), #kernel)( \
        __VA_ARGS__)
/* The block's dynamic shared memory (the launch's smem bytes, 16-byte aligned). */
#define LB_DYN_SMEM(type, name) type *name = (type *)lb_emu_dynamic_smem()
#endif

#endif
