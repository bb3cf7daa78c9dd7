/* topk.cu — the exact streaming top-k of the GPU k-NN (declared in topk.cuh).
 *
 * lb_topk_update merges the candidates of a similarity tile into per-column top-k tables:
 * for column c, the candidates are (M(r, c), idx_base + r), r = 0..rows-1, M(r, c) at
 * m[r * rs + c * cs]. The k-NN (src/mine/knn_gpu.c) calls it twice per tile of S [nb x nbt]
 * (row-major, source row i, target column j):
 *   backward: columns = target rows j, candidates = source rows i:  rs = nbt, cs = 1
 *             (the 64 threads of a block read 64 consecutive floats of a row: coalesced);
 *   forward:  columns = source rows i, candidates = target rows j:  rs = 1, cs = nbt
 *             (each thread walks its own row of S; a thread's 128-byte line is reused over 32
 *             steps from L1).
 *
 * Work split. Partial kernel: grid [ceil(cols / 64), nchunks], 64 threads; thread (c, z) keeps
 * the k best of rows [z*chunk, (z+1)*chunk) of column c in local memory (k <= 64 slots, an
 * insertion into a sorted array; most candidates fail the one comparison with the k-th slot).
 * With one chunk it starts from the table row and writes the table row back; with several, it
 * writes its list to the workspace, slot-major [z][slot][c] (coalesced), and the merge kernel
 * (one thread per column) pushes the chunks' lists into the table row, each list cut at its
 * first rejected entry (the lists are sorted, so everything after is rejected too).
 *
 * Exactness. The order is total on (value, index) pairs with distinct indices, so the top k of
 * a set is unique; a push keeps a sorted array equal to the top k of everything pushed so far;
 * merging top-k lists of disjoint subsets gives the top k of the union. Hence the table is the
 * top k of everything offered, bit for bit, whatever nchunks, the tile sizes or the launch
 * order — the same table as the CPU's lb_topk_push over the same values.
 *
 * No state: thread-safe; enqueued on the given stream. A table row and its workspace columns
 * are touched by one thread only (no atomics, no shared memory). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "topk.cuh"

#define TOPK_THREADS 64
#define FILL_THREADS 256

/* (s1, i1) ranks before (s2, i2): higher value, then lower index (src/mine/knn.h). */
static __device__ __forceinline__ bool topk_better(float s1, uint32_t i1, float s2, uint32_t i2) {
    return s1 > s2 || (s1 == s2 && i1 < i2);
}

/* Insert (v, i) into the sorted k slots; the caller has checked that it beats slot k-1. */
static __device__ __forceinline__ void topk_push(float *s, uint32_t *ix, int k, float v,
                                                 uint32_t i) {
    int p = k - 1;
    while (p > 0 && topk_better(v, i, s[p - 1], ix[p - 1])) {
        s[p] = s[p - 1];
        ix[p] = ix[p - 1];
        p--;
    }
    s[p] = v;
    ix[p] = i;
}

static __global__ void topk_fill_kernel(float *__restrict__ sim, uint32_t *__restrict__ idx,
                                        size_t n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    sim[i] = -INFINITY;
    idx[i] = LB_TOPK_EMPTY;
}

/* Thread (c = blockIdx.x * 64 + threadIdx.x, z = blockIdx.y): rows [z*chunk, min(rows,
 * (z+1)*chunk)) of column c. gridDim.y == 1: table row c in and out; else empty start and the
 * list to ws[(z * k + slot) * cols + c]. */
static __global__ void topk_partial_kernel(float *__restrict__ tab_sim,
                                           uint32_t *__restrict__ tab_idx, int k,
                                           const float *__restrict__ m, size_t rs, size_t cs,
                                           int rows, int cols, uint32_t idx_base, int chunk,
                                           float *__restrict__ ws_sim,
                                           uint32_t *__restrict__ ws_idx) {
    const int c = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= cols) return;
    const int z = (int)blockIdx.y;
    const bool direct = gridDim.y == 1;
    const int r0 = z * chunk;
    const int r1 = rows - r0 < chunk ? rows : r0 + chunk;
    float s[LB_TOPK_MAX_K];
    uint32_t ix[LB_TOPK_MAX_K];
    if (direct) {
        for (int j = 0; j < k; j++) {
            s[j] = tab_sim[(size_t)c * k + j];
            ix[j] = tab_idx[(size_t)c * k + j];
        }
    } else {
        for (int j = 0; j < k; j++) {
            s[j] = -INFINITY;
            ix[j] = LB_TOPK_EMPTY;
        }
    }
    float thr = s[k - 1];
    uint32_t thr_i = ix[k - 1];
    const float *p = m + (size_t)c * cs + (size_t)(r0 > 0 ? r0 : 0) * rs;
    for (int r = r0; r < r1; r++, p += rs) {
        const float v = *p;
        const uint32_t gi = idx_base + (uint32_t)r;
        if (topk_better(v, gi, thr, thr_i)) {
            topk_push(s, ix, k, v, gi);
            thr = s[k - 1];
            thr_i = ix[k - 1];
        }
    }
    if (direct) {
        for (int j = 0; j < k; j++) {
            tab_sim[(size_t)c * k + j] = s[j];
            tab_idx[(size_t)c * k + j] = ix[j];
        }
    } else {
        for (int j = 0; j < k; j++) {
            const size_t o = ((size_t)z * k + j) * (size_t)cols + (size_t)c;
            ws_sim[o] = s[j];
            ws_idx[o] = ix[j];
        }
    }
}

/* Thread c: table row c <- top k of (table row c) and the nchunks lists of column c in ws. */
static __global__ void topk_merge_kernel(float *__restrict__ tab_sim,
                                         uint32_t *__restrict__ tab_idx, int k, int cols,
                                         int nchunks, const float *__restrict__ ws_sim,
                                         const uint32_t *__restrict__ ws_idx) {
    const int c = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (c >= cols) return;
    float s[LB_TOPK_MAX_K];
    uint32_t ix[LB_TOPK_MAX_K];
    for (int j = 0; j < k; j++) {
        s[j] = tab_sim[(size_t)c * k + j];
        ix[j] = tab_idx[(size_t)c * k + j];
    }
    for (int z = 0; z < nchunks; z++)
        for (int j = 0; j < k; j++) {
            const size_t o = ((size_t)z * k + j) * (size_t)cols + (size_t)c;
            const float v = ws_sim[o];
            const uint32_t i = ws_idx[o];
            if (!topk_better(v, i, s[k - 1], ix[k - 1])) break; /* the rest of the list too */
            topk_push(s, ix, k, v, i);
        }
    for (int j = 0; j < k; j++) {
        tab_sim[(size_t)c * k + j] = s[j];
        tab_idx[(size_t)c * k + j] = ix[j];
    }
}

LB_EXTERN_C_BEGIN

cudaError_t lb_topk_fill_empty(float *sim, uint32_t *idx, size_t n, cudaStream_t stream) {
    if (n == 0) return cudaSuccess;
    if (!sim || !idx) return cudaErrorInvalidValue;
    const size_t blocks = (n + FILL_THREADS - 1) / FILL_THREADS;
    if (blocks > 0x7fffffffu) return cudaErrorInvalidValue;
    LB_LAUNCH(topk_fill_kernel, dim3((unsigned)blocks), dim3(FILL_THREADS), 0, stream, sim, idx,
              n);
    return cudaGetLastError();
}

cudaError_t lb_topk_update(float *tab_sim, uint32_t *tab_idx, int k, const float *m, size_t rs,
                           size_t cs, int rows, int cols, uint32_t idx_base, int nchunks,
                           float *ws_sim, uint32_t *ws_idx, cudaStream_t stream) {
    if (k < 1 || k > LB_TOPK_MAX_K || rows < 0 || cols < 0) return cudaErrorInvalidValue;
    if (rows == 0 || cols == 0) return cudaSuccess;
    if (!tab_sim || !tab_idx || !m) return cudaErrorInvalidValue;
    if (nchunks < 1 || nchunks > rows || nchunks > 65535) return cudaErrorInvalidValue;
    if (nchunks > 1 && (!ws_sim || !ws_idx)) return cudaErrorInvalidValue;
    if ((uint64_t)idx_base + (uint64_t)rows >= (uint64_t)LB_TOPK_EMPTY)
        return cudaErrorInvalidValue;
    const int chunk = (rows + nchunks - 1) / nchunks;
    const dim3 grid((unsigned)((cols + TOPK_THREADS - 1) / TOPK_THREADS), (unsigned)nchunks);
    LB_LAUNCH(topk_partial_kernel, grid, dim3(TOPK_THREADS), 0, stream, tab_sim, tab_idx, k, m,
              rs, cs, rows, cols, idx_base, chunk, ws_sim, ws_idx);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess || nchunks == 1) return e;
    LB_LAUNCH(topk_merge_kernel, dim3((unsigned)((cols + TOPK_THREADS - 1) / TOPK_THREADS)),
              dim3(TOPK_THREADS), 0, stream, tab_sim, tab_idx, k, cols, nchunks,
              (const float *)ws_sim, (const uint32_t *)ws_idx);
    return cudaGetLastError();
}

LB_EXTERN_C_END
