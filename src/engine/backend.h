/* backend.h — the backend seam: what encodes packed batches on one device. Made by the engine
 * (lb_engine_backend, engine.h); used by the streaming pipeline (pipeline.c), by sessions
 * (api/labse.c: labse_encode, labse_encode_ids) and by the encoder benchmark
 * (api/api_bench.c). Implementations: backend_cpu.c (lb_cpu_forward), backend_gpu.c
 * (lb_gpu_ctx, one per GPU).
 *
 * Streaming use: the caller keeps up to `depth` batches in flight in a ring of host buffers
 * obtained from host_alloc (cudaHostAlloc'ed, pinned memory on the GPU; 64-byte aligned malloc
 * on the CPU); `out` may point anywhere inside such a buffer (the pipeline gives each batch its
 * place in one window-sized buffer, so that rows are never copied into input order):
 *
 *   for batch j:  slot = j % depth
 *                 if j >= depth: wait(slot) → the rows of batch j-depth are in its out buffer
 *                 pack ids/cu_seqlens of batch j into the slot's buffers; submit(slot)
 *   at window end: wait every slot still in flight.
 *
 * submit may return before the work is done (GPU: H2D copy of ids on a copy stream, event,
 * forward on the compute stream, D2H of the rows into `out` on the copy stream, event);
 * wait(slot) blocks until `out` of that slot holds the rows. The buffers passed to submit
 * stay untouched by the caller until wait(slot) returned. The CPU backend has depth 1 and
 * computes in submit (wait is a no-op).
 *
 * Synchronous use: encode() runs one batch from any (pageable) host memory and returns when
 * `out` holds the rows; no batch may be in flight.
 *
 * Thread-safety: a backend is used by one thread at a time (it owns its workspaces).
 */
#ifndef LB_BACKEND_H
#define LB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"

#define LB_BACKEND_MAX_DEPTH 16 /* batches in flight, all devices together */

/* How a backend got by with too little device memory (GPU; all zero on the CPU). */
typedef struct lb_backend_mem {
    uint64_t split_batches;   /* batches encoded in pieces, out of device memory */
    uint64_t split_min;       /* fewest sentences in one piece; 0 when none was split */
    uint64_t workspace_bytes; /* the smallest cuBLASLt workspace of the backend's GPUs */
    int workspace_reduced;    /* 1: a GPU got less than the full workspace (32 MiB) */
} lb_backend_mem;

typedef struct lb_backend {
    void *ctx;
    int depth;                      /* batches in flight, >= 1 */
    const char *name;               /* "cpu", "cuda:0 (NAME)": static storage of the engine */
    /* Host buffers for batches (ids, cu_seqlens, rows). NULL on failure. */
    void *(*host_alloc)(void *ctx, size_t bytes);
    void (*host_free)(void *ctx, void *p);
    /* Encode n sequences: ids[cu[n]], cu[n+1] (cu[0] = 0), rows out[n * dim]. */
    labse_status (*submit)(void *ctx, int slot, const int32_t *ids, const int32_t *cu, int n,
                           float *out, labse_error *err);
    labse_status (*wait)(void *ctx, int slot, labse_error *err);
    /* Synchronous: the same batch contract, any host memory. */
    labse_status (*encode)(void *ctx, const int32_t *ids, const int32_t *cu, int n, float *out,
                           labse_error *err);
    void (*destroy)(void *ctx);     /* frees ctx (NULL-safe) */
    /* Optional (NULL on the CPU): seconds the device computed, and the span from the first
     * submit to the last wait; 1 - busy/span is the fraction of time the device waited. */
    void (*timing)(void *ctx, double *busy_s, double *span_s);
    /* Optional (NULL on the CPU): *out = the counters of lb_backend_mem since the backend was
     * made, over all its devices. Same thread rule as the backend. */
    void (*mem)(void *ctx, lb_backend_mem *out);
} lb_backend;

#endif
