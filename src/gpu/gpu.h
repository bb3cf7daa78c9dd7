/* gpu.h — the GPU encoder's host side (src/gpu/), internal. Built only with a GPU backend
 * (LABSE_HAVE_GPU: real CUDA, or the emulator tests/cuda_emu); C11, no CUDA types in this header.
 *
 *   gpu_device.c   device discovery and selection, CUDA/cuBLAS errors → labse_error
 *   gpu_model.c    lb_gpu_weights: the model's weights on one device, fp16 (LayerNorm fp32),
 *                  converted once at load into one device arena
 *   gpu_gemm.c     y = x Wᵀ + b through cuBLASLt, algorithms cached per shape
 *   gpu_forward.c  lb_gpu_ctx: streams, activations sized from the token budget, the layer loop
 *                  over the kernels (kernels/NAME.cuh), batches in flight (slots)
 *
 * The backend seam over lb_gpu_ctx (engine/backend.h) is engine/backend_gpu.c.
 *
 * The data path of one batch (slot k of the ring):
 *   h2d stream:      wait(slot free) → ids, cu_seqlens (pinned host) → device  → event h2d[k]
 *   compute stream:  wait h2d[k] → embed+LN → 12 × (QKV GEMM, attention, out GEMM, add+LN,
 *                    up GEMM, GELU, down GEMM, add+LN) → pool → Dense(+act) → L2 → event done[k]
 *                    (fused path: residuals and GELU inside the GEMMs, and the whole sequence
 *                    one CUDA Graph replay per padded shape; gpu_forward.c)
 *   d2h stream:      wait done[k] → rows (fp32) → pinned host                  → event d2h[k]
 * so batch k+1's ids travel while batch k computes, and batch k's rows travel back while
 * batch k+1 computes.
 */
#ifndef LB_GPU_H
#define LB_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "base/common.h"
#include "model/model.h"

/* The most GPUs one model runs on (--device cuda:all). */
#define LB_MAX_GPUS 16

/* The cuBLASLt workspace of a context, in bytes (less only when the device is short of memory:
 * lb_gpu_ctx_mem_stats). */
#define LB_GPU_WORKSPACE ((size_t)32 << 20)

/* Number of usable CUDA devices (0 when none or the driver fails). In the emulation build the
 * emulator counts as one device. Thread-safe. */
int lb_gpu_device_count(void);

/* 1 in the emulation build (kernels on the CPU emulator), else 0. */
int lb_gpu_is_emulated(void);

/* Check that ordinal `device` exists; fills name (may be NULL) with the device's name.
 * LABSE_E_UNSUPPORTED with a message when there is no such device. Thread-safe. */
labse_status lb_gpu_device_check(int device, char *name, size_t name_size, labse_error *err);

/* The weights of one model on one device (fp16 GEMM weights and embeddings, fp32 LayerNorm
 * parameters). Immutable after lb_gpu_weights_new; shared by every context on that device. */
typedef struct lb_gpu_weights lb_gpu_weights;

/* Upload m's weights to `device` (one arena allocation; fp32 → fp16 once, round to nearest).
 * m must outlive the result. LABSE_E_CUDA (out of device memory is named as such). */
labse_status lb_gpu_weights_new(const lb_model *m, int device, lb_gpu_weights **out,
                                labse_error *err);
/* The same with precision fp8 when fp8 is non-zero: the encoder layers' QKV, attention-out,
 * FFN up and FFN down weights as E4M3 codes with a scale per output channel (the rest as
 * above); a context made on them runs those GEMMs in fp8 (gpu_forward.c). */
labse_status lb_gpu_weights_new_prec(const lb_model *m, int device, int fp8, lb_gpu_weights **out,
                                     labse_error *err);
/* 1 when w holds fp8 weights (lb_gpu_weights_new_prec), else 0. Pure. */
int lb_gpu_weights_fp8(const lb_gpu_weights *w);
void lb_gpu_weights_free(lb_gpu_weights *w);
/* Device bytes held by the weights. */
size_t lb_gpu_weights_bytes(const lb_gpu_weights *w);

/* One encoder context: three streams, a cuBLASLt handle and its algorithm cache, activations
 * for up to max_tokens tokens (grown on demand), and `slots` batches in flight, each with its
 * own device ids/cu_seqlens/rows and events. Used by one thread at a time. */
typedef struct lb_gpu_ctx lb_gpu_ctx;

/* max_tokens: the token budget (the largest batch expected; larger batches grow the buffers).
 * slots: batches in flight (1..8). */
labse_status lb_gpu_ctx_new(const lb_model *m, const lb_gpu_weights *w, int max_tokens, int slots,
                            lb_gpu_ctx **out, labse_error *err);
void lb_gpu_ctx_free(lb_gpu_ctx *c);

/* Start encoding one batch in slot `slot`: ids [cu[n]], cu [n+1] (host; pinned memory lets the
 * copy overlap — from lb_gpu_host_alloc), rows → out [n, dim] fp32 host. Returns once the work
 * is queued; ids, cu and out must stay untouched until lb_gpu_wait(slot). The slot must be idle
 * (waited). The batch is validated (lb_batch_check) before anything is queued. When the device
 * runs out of memory for the batch's buffers, the batch is encoded in pieces (halves, down to
 * one sentence; the pieces before the last are waited here, so the call returns later), with
 * the same rows in out; only one sentence that does not fit alone is an error (LABSE_E_CUDA,
 * naming its token count and the bytes asked). */
labse_status lb_gpu_submit(lb_gpu_ctx *c, int slot, const int32_t *ids, const int32_t *cu, int n,
                           float *out, labse_error *err);

/* Block until slot's rows are in its out buffer (no-op for an idle slot). */
labse_status lb_gpu_wait(lb_gpu_ctx *c, int slot, labse_error *err);

/* Encode synchronously through slot 0 (staging pageable input through pinned buffers). */
labse_status lb_gpu_encode(lb_gpu_ctx *c, const int32_t *ids, const int32_t *cu, int n, float *out,
                           labse_error *err);

/* Pinned host memory (cudaHostAlloc) for batch buffers; NULL on failure. */
void *lb_gpu_host_alloc(size_t bytes);
void lb_gpu_host_free(void *p);

/* CUDA Graphs of c (fused path, LABSE_GPU_GRAPHS): enabled 1 used, 0 off, -1 turned off after a
 * capture failed (the context then launches kernel by kernel); how many were captured so far;
 * how many are held now (at most 16; least recently used evicted). Any pointer may be NULL. */
void lb_gpu_ctx_graph_stats(const lb_gpu_ctx *c, int *enabled, int *captured, int *live);

/* Out of device memory, survived (gpu_forward.c, enqueue): batches encoded in pieces since the
 * context was made, the fewest sentences a piece had (0 when none was split), and the bytes of
 * the cuBLASLt workspace (32 MiB, or less when lb_gpu_ctx_new found the device short). Any
 * pointer may be NULL. Same thread rule as the context (the counters are its own). */
void lb_gpu_ctx_mem_stats(const lb_gpu_ctx *c, uint64_t *split_batches, int *split_min,
                          size_t *workspace);

/* Seconds the compute stream was busy / the wall time between the first submit and the last
 * wait, since the context was made (events): the pipeline's "GPU waits for the host" figure is
 * 1 - busy / span. */
void lb_gpu_ctx_timing(const lb_gpu_ctx *c, double *busy_s, double *span_s);

#endif
