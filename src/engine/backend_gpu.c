/* backend_gpu.c — the backend seam (backend.h) over the GPU encoder (gpu/gpu.h).
 *
 * Streaming (LB_BACKEND_STREAM): one lb_gpu_ctx per GPU (its own streams and activations), DEPTH batches in flight on each.
 * The scheduler's slot k goes to GPU k % G, local slot k / G: consecutive batches go round-robin
 * over the GPUs, and while GPU g computes, the scheduler thread packs the next GPU's batch —
 * one tokenizer pool and one scheduler feed every GPU (`--device cuda:all`). submit only
 * queues work, so one host thread keeps several GPUs busy. Pinned host buffers come from
 * cudaHostAlloc (portable: usable by every GPU).
 * Session (LB_BACKEND_SESSION): one lb_gpu_ctx with DEPTH slots on the GPU the engine hands out
 * next (round-robin), as a labse_session uses it: labse_encode keeps two batches in flight
 * through submit/wait; encode() (labse_encode_ids) stages pageable memory through pinned
 * buffers (lb_gpu_encode, slot 0; nothing else in flight). */
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"
#include "engine/engine.h"

#define DEPTH 2

typedef struct multi {
    int g;
    lb_gpu_ctx *c[LB_MAX_GPUS];
} multi;

static void *gpu_alloc(void *ctx, size_t bytes) {
    (void)ctx;
    return lb_gpu_host_alloc(bytes);
}

static void gpu_free(void *ctx, void *p) {
    (void)ctx;
    lb_gpu_host_free(p);
}

static labse_status gpu_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu, int n,
                               float *out, labse_error *err) {
    multi *m = ctx;
    return lb_gpu_submit(m->c[slot % m->g], slot / m->g, ids, cu, n, out, err);
}

static labse_status gpu_wait(void *ctx, int slot, labse_error *err) {
    multi *m = ctx;
    return lb_gpu_wait(m->c[slot % m->g], slot / m->g, err);
}

static labse_status gpu_encode(void *ctx, const int32_t *ids, const int32_t *cu, int n,
                               float *out, labse_error *err) {
    multi *m = ctx;
    return lb_gpu_encode(m->c[0], ids, cu, n, out, err);
}

static void gpu_destroy(void *ctx) {
    multi *m = ctx;
    if (!m) return;
    for (int i = 0; i < m->g; i++) lb_gpu_ctx_free(m->c[i]);
    free(m);
}

/* busy: mean over the GPUs; span: the longest. */
static void gpu_timing(void *ctx, double *busy_s, double *span_s) {
    multi *m = ctx;
    double busy = 0, span = 0;
    for (int i = 0; i < m->g; i++) {
        double b, s;
        lb_gpu_ctx_timing(m->c[i], &b, &s);
        busy += b;
        if (s > span) span = s;
    }
    *busy_s = m->g ? busy / m->g : 0;
    *span_s = span;
}

/* Splits summed over the GPUs, the smallest piece and workspace over them. */
static void gpu_mem(void *ctx, lb_backend_mem *out) {
    multi *m = ctx;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < m->g; i++) {
        uint64_t splits;
        int piece;
        size_t ws;
        lb_gpu_ctx_mem_stats(m->c[i], &splits, &piece, &ws);
        out->split_batches += splits;
        if (piece > 0 && (!out->split_min || (uint64_t)piece < out->split_min))
            out->split_min = (uint64_t)piece;
        if (i == 0 || ws < out->workspace_bytes) out->workspace_bytes = ws;
        if (ws < LB_GPU_WORKSPACE) out->workspace_reduced = 1;
    }
}

labse_status lb_backend_gpu(const lb_engine *e, lb_backend_kind kind, lb_backend *be,
                            labse_error *err) {
    const int G = lb_engine_gpu_count(e);
    if (G < 1) return lb_err(err, LABSE_E_INVALID, "the model was not loaded for a CUDA device");
    const int session = kind == LB_BACKEND_SESSION;
    const int n_ctx = session ? 1 : G, slots = DEPTH;
    if (n_ctx * slots > LB_BACKEND_MAX_DEPTH) /* the pipeline's ring of batches in flight */
        return lb_err(err, LABSE_E_UNSUPPORTED, "at most %d GPUs per process (got %d)",
                      LB_BACKEND_MAX_DEPTH / DEPTH, G);
    const int first = session ? lb_engine_next_gpu(e) : 0;
    multi *m = calloc(1, sizeof *m);
    if (!m) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    for (int i = 0; i < n_ctx; i++) {
        labse_status st = lb_gpu_ctx_new(lb_engine_model(e), lb_engine_gpu_weights(e, first + i),
                                         lb_engine_options(e)->batch_tokens, slots, &m->c[i], err);
        if (st != LABSE_OK) {
            gpu_destroy(m);
            return st;
        }
        m->g = i + 1;
    }
    be->ctx = m;
    be->depth = slots * n_ctx;
    be->name = lb_engine_device_name(e);
    be->host_alloc = gpu_alloc;
    be->host_free = gpu_free;
    be->submit = gpu_submit;
    be->wait = gpu_wait;
    be->encode = gpu_encode;
    be->destroy = gpu_destroy;
    be->timing = gpu_timing;
    be->mem = gpu_mem;
    return LABSE_OK;
}
