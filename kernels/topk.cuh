/* topk.cuh — launchers of the exact streaming top-k of the GPU k-NN (topk.cu; host side in
 * src/mine/knn_gpu.c). Order as src/mine/knn.h: (s1, i1) ranks before (s2, i2) iff s1 > s2 or
 * (s1 == s2 and i1 < i2); an empty slot is (-inf, LB_TOPK_EMPTY). Values must not be NaN. */
#ifndef LB_TOPK_CUH
#define LB_TOPK_CUH

#include <stddef.h>

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* The largest k the kernels support (a thread keeps k slots in local memory). */
#define LB_TOPK_MAX_K 64
/* Index of an empty slot (= LB_KNN_EMPTY of src/mine/knn.h). */
#define LB_TOPK_EMPTY 0xFFFFFFFFu

/* sim[i] = -inf, idx[i] = LB_TOPK_EMPTY for i in 0..n-1 (device pointers). n == 0: no launch. */
cudaError_t lb_topk_fill_empty(float *sim, uint32_t *idx, size_t n, cudaStream_t stream);

/*
 * Merge a matrix's columns into a table, exactly: for every column c in 0..cols-1,
 *     table row c  <-  the k best of  (table row c)  ∪  { (M(r, c), idx_base + r) : 0 <= r < rows }
 * with M(r, c) = m[r * rs + c * cs] (any strides: rs = cols, cs = 1 is a row-major matrix taken
 * by columns; rs = 1, cs = ld its transpose), and table row c = tab_sim/tab_idx[c * k .. c*k+k),
 * sorted (the result too). The candidates' indices must differ from the table's (each
 * (row, column) pair is offered once over a whole search); then the result is the unique top-k
 * of everything ever offered, whatever the chunking or order.
 *   nchunks  the rows are cut into nchunks ranges, one thread each per column (parallelism for
 *            few columns); 1 <= nchunks <= rows. nchunks > 1 needs ws_sim/ws_idx of
 *            nchunks * k * cols elements (device; NULL is fine when nchunks == 1).
 *   1 <= k <= LB_TOPK_MAX_K; rows, cols >= 0 (0: nothing to do, no launch); idx_base + rows
 *   must be < LB_TOPK_EMPTY.
 * Enqueued on `stream`: a partial kernel (grid [ceil(cols / 64), nchunks], 64 threads), then
 * when nchunks > 1 a merge kernel (one thread per column). cudaErrorInvalidValue for bad
 * arguments; otherwise the launches' error.
 */
cudaError_t lb_topk_update(float *tab_sim, uint32_t *tab_idx, int k, const float *m, size_t rs,
                           size_t cs, int rows, int cols, uint32_t idx_base, int nchunks,
                           float *ws_sim, uint32_t *ws_idx, cudaStream_t stream);

LB_EXTERN_C_END

#endif
