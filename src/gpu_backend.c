/* gpu_backend.c — the pipeline's backend seam (pipeline.h) over the GPU encoder: depth 2
 * (batch j+1 is packed and its ids copied while batch j computes; rows come back on their own
 * stream), pinned host buffers from cudaHostAlloc. */
#include <stdlib.h>

#include "gpu.h"
#include "pipeline.h"

#define DEPTH 2

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
    return lb_gpu_submit(ctx, slot, ids, cu, n, out, err);
}

static labse_status gpu_wait(void *ctx, int slot, labse_error *err) {
    return lb_gpu_wait(ctx, slot, err);
}

static void gpu_destroy(void *ctx) { lb_gpu_ctx_free(ctx); }

static void gpu_timing(void *ctx, double *busy_s, double *span_s) {
    lb_gpu_ctx_timing(ctx, busy_s, span_s);
}

labse_status lb_pipe_backend_gpu(const labse_model *lm, lb_pipe_backend *be, labse_error *err) {
    const lb_gpu_weights *w = lb_model_gpu_weights(lm);
    if (!w) return lb_err(err, LABSE_E_INVALID, "the model was not loaded for a CUDA device");
    lb_gpu_ctx *c = NULL;
    labse_status st = lb_gpu_ctx_new(lb_model_inner(lm), w, lb_model_options(lm)->batch_tokens,
                                     DEPTH, &c, err);
    if (st != LABSE_OK) return st;
    be->ctx = c;
    be->depth = DEPTH;
    be->name = lb_model_device_name(lm);
    be->host_alloc = gpu_alloc;
    be->host_free = gpu_free;
    be->submit = gpu_submit;
    be->wait = gpu_wait;
    be->destroy = gpu_destroy;
    be->timing = gpu_timing;
    return LABSE_OK;
}
