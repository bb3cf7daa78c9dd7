/* emu_blaslt.cpp — the cuBLASLt subset of the emulator: D = alpha·op(A)·op(B) + beta·C, then
 * the epilogue (bias per row of D, then ReLU or GELU), column-major, as cublasLtMatmul.
 * Inputs fp16 / bf16 / fp32 / FP8 E4M3 are widened to fp32 (exactly), multiplied by OpenBLAS
 * sgemm (fp32 sums), the epilogue runs in fp32 and D is rounded once to its type (round to
 * nearest even). FP8 (A and B E4M3; cuda_emu.h has the rules: TN only, A/B scale pointers,
 * scalar or outer-vector modes): the fp32 sum of exact products is scaled per element, then
 * alpha, beta·C, bias, activation; an E4M3 D (C fp16/bf16, beta 0) then times D_SCALE_POINTER's
 * value and rounded to E4M3 (nearest even, saturating at ±448). Hopper's FP8 tensor cores accumulate with fewer bits unless
 * cuBLASLt promotes the sums (its default, without CUBLASLT_MATMUL_DESC_FAST_ACCUM): the
 * emulator models the promoted, fp32 accumulation.
 * GELU is the tanh approximation, like cuBLASLt's (not erf).
 * Supported: compute type CUBLAS_COMPUTE_32F (and its _FAST_ variants, computed exactly in fp32),
 * scale type CUDA_R_32F, host alpha/beta, A and B of one type, C and D of one type (D fp32 or A's
 * type; FP8 A/B: D fp16, bf16 or fp32, or D E4M3 with C fp16/bf16), no batching, column order. Anything else → CUBLAS_STATUS_NOT_SUPPORTED.
 * Matrices and bias must lie inside device allocations (→ CUBLAS_STATUS_INVALID_VALUE).
 * Alignment: the heuristic's algo records the alignment it was picked for (the preference's
 * MIN_ALIGNMENT_*_BYTES, default 256, lowered to what each leading dimension allows); a matmul
 * with that algo and a pointer it does not fit → CUBLAS_STATUS_INVALID_VALUE (on a GPU: a
 * misaligned access or a refusal). Layout ROWS/COLS/LD may be changed between calls.
 * The matmul runs in `stream`'s order like a kernel. Handles and descriptors are plain heap
 * objects; thread-safety as cuBLASLt (a descriptor must not be changed while used). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include <memory>
#include <mutex>
#include <vector>

#include "emu_internal.h"

struct cublasLtContext {
    int magic;
};
struct cublasLtMatmulDescOpaque_emu {
    cublasComputeType_t compute;
    cudaDataType_t scale;
    int32_t transa, transb;
    uint32_t epilogue;
    const void *bias;
    int32_t bias_type; /* -1: D's type */
    const void *a_scale, *b_scale; /* FP8: device fp32, NULL = 1 */
    const void *d_scale;           /* FP8 D: device fp32, one value, NULL = 1 */
    int32_t a_mode, b_mode;        /* cublasLtMatmulMatrixScale_t */
};
struct cublasLtMatrixLayoutOpaque_emu {
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
    int32_t order;
    int32_t batch;
};
struct cublasLtMatmulPreferenceOpaque_emu {
    uint64_t max_ws;
    uint32_t align[4]; /* minimum alignment of A, B, C, D in bytes */
};

namespace {

size_t type_size(int t) {
    switch (t) {
    case CUDA_R_32F: return 4;
    case CUDA_R_16F: return 2;
    case CUDA_R_16BF: return 2;
    case CUDA_R_8F_E4M3: return 1;
    default: return 0;
    }
}

float bf16_to_f(uint16_t b) {
    uint32_t x = (uint32_t)b << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}
uint16_t f_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

float load(const void *p, int t, size_t i) {
    switch (t) {
    case CUDA_R_32F: return ((const float *)p)[i];
    case CUDA_R_16F: return lb_emu::h2f(((const uint16_t *)p)[i]);
    case CUDA_R_8F_E4M3: return lb_emu::e4m3_to_f(((const uint8_t *)p)[i]);
    default: return bf16_to_f(((const uint16_t *)p)[i]);
    }
}
void store(void *p, int t, size_t i, float v) {
    switch (t) {
    case CUDA_R_32F: ((float *)p)[i] = v; break;
    case CUDA_R_16F: ((uint16_t *)p)[i] = lb_emu::f2h(v); break;
    case CUDA_R_8F_E4M3: ((uint8_t *)p)[i] = lb_emu::d_to_e4m3((double)v, __NV_SATFINITE); break;
    default: ((uint16_t *)p)[i] = f_to_bf16(v); break;
    }
}

/* Bytes spanned by a rows x cols column-major matrix with leading dimension ld. */
size_t span(const cublasLtMatrixLayoutOpaque_emu *l) {
    if (!l->rows || !l->cols) return 0;
    return ((size_t)(l->cols - 1) * (size_t)l->ld + l->rows) * type_size(l->type);
}

/* A column-major rows x cols matrix as dense fp32 (ld = rows). */
std::vector<float> widen(const void *p, const cublasLtMatrixLayoutOpaque_emu *l) {
    std::vector<float> v(l->rows * l->cols);
    for (uint64_t c = 0; c < l->cols; c++)
        for (uint64_t r = 0; r < l->rows; r++) v[c * l->rows + r] = load(p, l->type, c * (size_t)l->ld + r);
    return v;
}

bool layout_ok(const cublasLtMatrixLayoutOpaque_emu *l) {
    return l && type_size(l->type) && l->ld >= 1 && (uint64_t)l->ld >= l->rows;
}

/* algo.data[0] of the emulator's algorithms; data[1..4]: the alignment of A, B, C, D in bytes
 * the algorithm was picked for. */
const uint64_t ALGO_MAGIC = 0x656d75; /* "emu" */

/* An algo from the heuristic used with buffers it was not picked for: INVALID_VALUE. */
cublasStatus_t algo_fits(const cublasLtMatmulAlgo_t *algo, const void *const ptr[4],
                         const cublasLtMatrixLayoutOpaque_emu *const lay[4], bool use_c) {
    if (!algo) return CUBLAS_STATUS_SUCCESS;
    if (algo->data[0] != ALGO_MAGIC) return CUBLAS_STATUS_INVALID_VALUE;
    for (int i = 0; i < 4; i++) {
        if (i == 2 && !use_c) continue;
        const uint64_t a = algo->data[1 + i];
        if (!a || (uintptr_t)ptr[i] % a || ((uint64_t)lay[i]->ld * type_size(lay[i]->type)) % a)
            return CUBLAS_STATUS_INVALID_VALUE;
    }
    return CUBLAS_STATUS_SUCCESS;
}

struct Problem {
    uint64_t m, n, k;
};

/* Validate the combination (also used by the heuristic query). */
cublasStatus_t check(const cublasLtMatmulDescOpaque_emu *d, const cublasLtMatrixLayoutOpaque_emu *A,
                     const cublasLtMatrixLayoutOpaque_emu *B, const cublasLtMatrixLayoutOpaque_emu *C,
                     const cublasLtMatrixLayoutOpaque_emu *D, Problem *pr) {
    if (!d || !A || !B || !C || !D) return CUBLAS_STATUS_INVALID_VALUE;
    if (!layout_ok(A) || !layout_ok(B) || !layout_ok(C) || !layout_ok(D)) return CUBLAS_STATUS_INVALID_VALUE;
    if (A->order || B->order || C->order || D->order) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (A->batch != 1 || B->batch != 1 || C->batch != 1 || D->batch != 1) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->compute != CUBLAS_COMPUTE_32F && d->compute != CUBLAS_COMPUTE_32F_FAST_16F &&
        d->compute != CUBLAS_COMPUTE_32F_FAST_16BF && d->compute != CUBLAS_COMPUTE_32F_FAST_TF32)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->scale != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
    const bool d8 = D->type == CUDA_R_8F_E4M3; /* fp8 output: C fp16 or bf16 */
    if (A->type != B->type) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d8 ? C->type != CUDA_R_16F && C->type != CUDA_R_16BF : C->type != D->type) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->d_scale && !d8) return CUBLAS_STATUS_INVALID_VALUE;
    if (d->transa > 1 || d->transb > 1 || d->transa < 0 || d->transb < 0) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (A->type == CUDA_R_8F_E4M3) { /* FP8: see cuda_emu.h */
        if (d->compute != CUBLAS_COMPUTE_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
        if (d->transa != CUBLAS_OP_T || d->transb != CUBLAS_OP_N) return CUBLAS_STATUS_NOT_SUPPORTED;
        if (d->a_mode != d->b_mode) return CUBLAS_STATUS_NOT_SUPPORTED;
        if (d->a_mode != CUBLASLT_MATMUL_MATRIX_SCALE_SCALAR_32F &&
            d->a_mode != CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F)
            return CUBLAS_STATUS_NOT_SUPPORTED;
    } else {
        if (D->type != A->type && D->type != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
        if (d->a_scale || d->b_scale || d->a_mode || d->b_mode) return CUBLAS_STATUS_INVALID_VALUE;
    }
    uint64_t m = d->transa ? A->cols : A->rows, k = d->transa ? A->rows : A->cols;
    uint64_t kb = d->transb ? B->cols : B->rows, n = d->transb ? B->rows : B->cols;
    if (k != kb || C->rows != m || C->cols != n || D->rows != m || D->cols != n) return CUBLAS_STATUS_INVALID_VALUE;
    switch (d->epilogue) {
    case CUBLASLT_EPILOGUE_DEFAULT: case CUBLASLT_EPILOGUE_RELU: case CUBLASLT_EPILOGUE_GELU:
        break;
    case CUBLASLT_EPILOGUE_BIAS: case CUBLASLT_EPILOGUE_RELU_BIAS: case CUBLASLT_EPILOGUE_GELU_BIAS: {
        const int own = d8 ? C->type : D->type; /* an fp8 D's bias has C's type */
        const int bt = d->bias_type < 0 ? own : d->bias_type;
        if (bt != own && bt != CUDA_R_32F) return CUBLAS_STATUS_NOT_SUPPORTED;
        break;
    }
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
    }
    if (pr) *pr = Problem{m, n, k};
    return CUBLAS_STATUS_SUCCESS;
}

/* LABSE_EMU_LT_NO_OUTER_VEC=1: no algorithm for outer-vector scaling (cuda_emu.h). */
bool no_outer_vec(const cublasLtMatmulDescOpaque_emu *d) {
    const char *e = getenv("LABSE_EMU_LT_NO_OUTER_VEC");
    return d->a_mode == CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F && e && !strcmp(e, "1");
}

float gelu_tanh(float x) {
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
}

} // namespace

using namespace lbemu;

extern "C" cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) {
    if (!h) return CUBLAS_STATUS_INVALID_VALUE;
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n < 1) {
        cudaGetLastError();
        return CUBLAS_STATUS_NOT_INITIALIZED;
    }
    *h = new cublasLtContext{0x4c74};
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete h;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" const char *cublasLtGetStatusName(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}
extern "C" const char *cublasLtGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    }
    return "unknown status";
}

extern "C" cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t ct,
                                                   cudaDataType_t st) {
    if (!d) return CUBLAS_STATUS_INVALID_VALUE;
    *d = new cublasLtMatmulDescOpaque_emu{ct, st, CUBLAS_OP_N, CUBLAS_OP_N, CUBLASLT_EPILOGUE_DEFAULT, nullptr, -1,
                                          nullptr, nullptr, nullptr, 0, 0};
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d) {
    delete d;
    return CUBLAS_STATUS_SUCCESS;
}

template <class T> static cublasStatus_t get_attr(T *out, const void *buf, size_t size) {
    if (!buf || size != sizeof(T)) return CUBLAS_STATUS_INVALID_VALUE;
    memcpy(out, buf, sizeof(T));
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a,
                                                         const void *buf, size_t size) {
    if (!d) return CUBLAS_STATUS_INVALID_VALUE;
    switch (a) {
    case CUBLASLT_MATMUL_DESC_TRANSA: return get_attr(&d->transa, buf, size);
    case CUBLASLT_MATMUL_DESC_TRANSB: return get_attr(&d->transb, buf, size);
    case CUBLASLT_MATMUL_DESC_EPILOGUE: return get_attr(&d->epilogue, buf, size);
    case CUBLASLT_MATMUL_DESC_BIAS_POINTER: return get_attr(&d->bias, buf, size);
    case CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE: return get_attr(&d->bias_type, buf, size);
    case CUBLASLT_MATMUL_DESC_A_SCALE_POINTER: return get_attr(&d->a_scale, buf, size);
    case CUBLASLT_MATMUL_DESC_B_SCALE_POINTER: return get_attr(&d->b_scale, buf, size);
    case CUBLASLT_MATMUL_DESC_D_SCALE_POINTER: return get_attr(&d->d_scale, buf, size);
    case CUBLASLT_MATMUL_DESC_A_SCALE_MODE: return get_attr(&d->a_mode, buf, size);
    case CUBLASLT_MATMUL_DESC_B_SCALE_MODE: return get_attr(&d->b_mode, buf, size);
    case CUBLASLT_MATMUL_DESC_COMPUTE_TYPE: return get_attr(&d->compute, buf, size);
    case CUBLASLT_MATMUL_DESC_SCALE_TYPE: return get_attr(&d->scale, buf, size);
    case CUBLASLT_MATMUL_DESC_POINTER_MODE: {
        int32_t mode = 0;
        cublasStatus_t s = get_attr(&mode, buf, size);
        if (s == CUBLAS_STATUS_SUCCESS && mode != 0) return CUBLAS_STATUS_NOT_SUPPORTED; /* host only */
        return s;
    }
    default: return CUBLAS_STATUS_NOT_SUPPORTED;
    }
}

extern "C" cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type, uint64_t rows,
                                                     uint64_t cols, int64_t ld) {
    if (!l) return CUBLAS_STATUS_INVALID_VALUE;
    *l = nullptr;
    if (!type_size(type)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (ld < 1 || (uint64_t)ld < rows) return CUBLAS_STATUS_INVALID_VALUE;
    *l = new cublasLtMatrixLayoutOpaque_emu{type, rows, cols, ld, CUBLASLT_ORDER_COL, 1};
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l) {
    delete l;
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtMatrixLayoutSetAttribute(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a,
                                                           const void *buf, size_t size) {
    if (!l) return CUBLAS_STATUS_INVALID_VALUE;
    if (a == CUBLASLT_MATRIX_LAYOUT_ORDER) {
        int32_t o = 0;
        cublasStatus_t s = get_attr(&o, buf, size);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
        if (o != CUBLASLT_ORDER_COL) return CUBLAS_STATUS_NOT_SUPPORTED;
        l->order = o;
        return s;
    }
    if (a == CUBLASLT_MATRIX_LAYOUT_ROWS || a == CUBLASLT_MATRIX_LAYOUT_COLS) {
        uint64_t v = 0;
        cublasStatus_t s = get_attr(&v, buf, size);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
        if (a == CUBLASLT_MATRIX_LAYOUT_ROWS) l->rows = v;
        else l->cols = v;
        return s;
    }
    if (a == CUBLASLT_MATRIX_LAYOUT_LD) {
        int64_t v = 0;
        cublasStatus_t s = get_attr(&v, buf, size);
        if (s == CUBLAS_STATUS_SUCCESS) l->ld = v;
        return s;
    }
    if (a == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT) {
        int32_t b = 0;
        cublasStatus_t s = get_attr(&b, buf, size);
        if (s != CUBLAS_STATUS_SUCCESS) return s;
        if (b != 1) return CUBLAS_STATUS_NOT_SUPPORTED;
        return s;
    }
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

extern "C" cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p) {
    if (!p) return CUBLAS_STATUS_INVALID_VALUE;
    *p = new cublasLtMatmulPreferenceOpaque_emu{0, {256, 256, 256, 256}};
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p) {
    delete p;
    return CUBLAS_STATUS_SUCCESS;
}
extern "C" cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                               cublasLtMatmulPreferenceAttributes_t a,
                                                               const void *buf, size_t size) {
    if (!p) return CUBLAS_STATUS_INVALID_VALUE;
    if (a == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) return get_attr(&p->max_ws, buf, size);
    if (a >= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES && a <= CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES) {
        uint32_t v = 0;
        cublasStatus_t s = get_attr(&v, buf, size);
        if (s == CUBLAS_STATUS_SUCCESS) p->align[a - CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES] = v;
        return s;
    }
    if (a == CUBLASLT_MATMUL_PREF_SEARCH_MODE) {
        uint32_t m;
        return get_attr(&m, buf, size);
    }
    return CUBLAS_STATUS_NOT_SUPPORTED;
}

extern "C" cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t d,
                                                         cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B,
                                                         cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D,
                                                         cublasLtMatmulPreference_t pref, int requested,
                                                         cublasLtMatmulHeuristicResult_t results[], int *returned) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!pref || requested < 1 || !results || !returned) return CUBLAS_STATUS_INVALID_VALUE;
    *returned = 0;
    cublasStatus_t s = check(d, A, B, C, D, nullptr);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (no_outer_vec(d)) return CUBLAS_STATUS_NOT_SUPPORTED;
    memset(&results[0], 0, sizeof results[0]);
    results[0].algo.data[0] = ALGO_MAGIC;
    const cublasLtMatrixLayoutOpaque_emu *lay[4] = {A, B, C, D};
    for (int i = 0; i < 4; i++) { /* an algorithm works only if every column start is aligned too */
        uint64_t a = pref->align[i] ? pref->align[i] : 1, ldb = (uint64_t)lay[i]->ld * type_size(lay[i]->type);
        while (a > 1 && (ldb % a || (a & (a - 1)))) a >>= 1;
        results[0].algo.data[1 + i] = a;
    }
    results[0].workspaceSize = 0;
    results[0].state = CUBLAS_STATUS_SUCCESS;
    results[0].wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha,
                                         const void *A, cublasLtMatrixLayout_t Ad, const void *B,
                                         cublasLtMatrixLayout_t Bd, const void *beta, const void *C,
                                         cublasLtMatrixLayout_t Cd, void *D, cublasLtMatrixLayout_t Dd,
                                         const cublasLtMatmulAlgo_t *algo, void *workspace, size_t ws_size,
                                         cudaStream_t stream) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    Problem pr;
    cublasStatus_t s = check(d, Ad, Bd, Cd, Dd, &pr);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
    if (!alpha || !beta) return CUBLAS_STATUS_INVALID_VALUE;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    if (pr.m == 0 || pr.n == 0) return CUBLAS_STATUS_SUCCESS;
    if (!dev_range(D, span(Dd))) return CUBLAS_STATUS_INVALID_VALUE;
    if (pr.k && (!dev_range(A, span(Ad)) || !dev_range(B, span(Bd)))) return CUBLAS_STATUS_INVALID_VALUE;
    const bool use_c = be != 0.0f, d8 = Dd->type == CUDA_R_8F_E4M3;
    if (d8 && use_c) return CUBLAS_STATUS_NOT_SUPPORTED; /* beta·C into an fp8 D: not emulated */
    if (use_c && !dev_range(C, span(Cd))) return CUBLAS_STATUS_INVALID_VALUE;
    if (C == D && use_c && (Cd->ld != Dd->ld || Cd->type != Dd->type)) return CUBLAS_STATUS_INVALID_VALUE;
    const uint32_t epi = d->epilogue;
    const bool has_bias = epi & CUBLASLT_EPILOGUE_BIAS;
    const int bias_type = d->bias_type < 0 ? (d8 ? Cd->type : Dd->type) : d->bias_type;
    if (has_bias && !dev_range(d->bias, pr.m * type_size(bias_type))) return CUBLAS_STATUS_INVALID_VALUE;
    if (ws_size && !dev_range(workspace, ws_size)) return CUBLAS_STATUS_INVALID_VALUE;
    const bool fp8 = Ad->type == CUDA_R_8F_E4M3, outer = d->a_mode == CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
    if (fp8 && !algo && no_outer_vec(d)) return CUBLAS_STATUS_NOT_SUPPORTED;
    if (d->a_scale && !dev_range(d->a_scale, (outer ? pr.m : 1) * sizeof(float))) return CUBLAS_STATUS_INVALID_VALUE;
    if (d->b_scale && !dev_range(d->b_scale, (outer ? pr.n : 1) * sizeof(float))) return CUBLAS_STATUS_INVALID_VALUE;
    if (d->d_scale && !dev_range(d->d_scale, sizeof(float))) return CUBLAS_STATUS_INVALID_VALUE;
    if (!stream_valid(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    {
        const void *const ptrs[4] = {A, B, C, D};
        const cublasLtMatrixLayoutOpaque_emu *const lays[4] = {Ad, Bd, Cd, Dd};
        if ((s = algo_fits(algo, ptrs, lays, use_c)) != CUBLAS_STATUS_SUCCESS) return s;
    }

    /* Everything the operation needs, copied now (descriptors may change after the call). */
    cublasLtMatrixLayoutOpaque_emu la = *Ad, lb = *Bd, lc = *Cd, ld = *Dd;
    const int ta = d->transa, tb = d->transb;
    const void *bias = d->bias;
    const float *sa = (const float *)d->a_scale, *sb = (const float *)d->b_scale, *sd = (const float *)d->d_scale;
    Problem p = pr;
    cudaError_t e = stream_submit(stream, [=] {
        const size_t m = p.m, n = p.n, k = p.k;
        std::vector<float> out(m * n, 0.0f);
        if (use_c) out = widen(C, &lc);
        if (k) {
            std::vector<float> a = widen(A, &la), b = widen(B, &lb);
            /* one sgemm at a time: OpenBLAS' OpenMP pool is not meant for concurrent callers */
            static std::mutex blas_m;
            std::lock_guard<std::mutex> g(blas_m);
            if (fp8) { /* the scaled sum, then alpha and beta·C, element by element */
                std::vector<float> acc(m * n);
                cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, (int)k, 1.0f, a.data(),
                            (int)la.rows, b.data(), (int)lb.rows, 0.0f, acc.data(), (int)m);
                for (size_t j = 0; j < n; j++)
                    for (size_t i = 0; i < m; i++) {
                        const float fa = sa ? sa[outer ? i : 0] : 1.0f, fb = sb ? sb[outer ? j : 0] : 1.0f;
                        const float v = al * (acc[j * m + i] * fa * fb);
                        out[j * m + i] = use_c ? v + be * out[j * m + i] : v;
                    }
            } else {
                cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m,
                            (int)n, (int)k, al, a.data(), (int)la.rows, b.data(), (int)lb.rows, use_c ? be : 0.0f,
                            out.data(), (int)m);
            }
        } else {
            for (float &v : out) v *= use_c ? be : 0.0f;
        }
        for (size_t j = 0; j < n; j++)
            for (size_t i = 0; i < m; i++) {
                float v = out[j * m + i];
                if (has_bias) v += load(bias, bias_type, i);
                if ((epi & ~(uint32_t)CUBLASLT_EPILOGUE_BIAS) == CUBLASLT_EPILOGUE_RELU) v = v > 0.0f ? v : 0.0f;
                if ((epi & ~(uint32_t)CUBLASLT_EPILOGUE_BIAS) == CUBLASLT_EPILOGUE_GELU) v = gelu_tanh(v);
                if (sd) v = v * *sd; /* fp8 D: scale_D after the epilogue, one fp32 product */
                store(D, ld.type, j * (size_t)ld.ld + i, v);
            }
    });
    if (e != cudaSuccess) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}
