/* backend_null.c — the null device (issue 12, section 7): a backend of the seam (backend.h)
 * that takes packed batches and returns zero rows at once, for benchmarks only. A run on it
 * measures everything but the encoder: reading, decompressing, parsing, tokenising, bucketing,
 * packing, reordering and writing, i.e. the rate at which this host can feed a device.
 * Depth 1, the CPU backend's host buffers (lb_host_alloc64); submit writes n × dim zeros (the cost
 * of a device's rows landing in host memory) and returns. */
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "engine/engine.h"

typedef struct null_ctx {
    size_t dim;            /* row width of the engine's model */
} null_ctx;

/* out[n × dim] = 0.0; ids and cu are not read (the batch is packed, that is the point).
 * Never fails. One thread per backend. */
static labse_status null_encode(void *ctx, const int32_t *ids, const int32_t *cu, int n,
                                float *out, labse_error *err) {
    const null_ctx *c = ctx;
    (void)ids;
    (void)cu;
    (void)err;
    if (n > 0) memset(out, 0, (size_t)n * c->dim * sizeof *out);
    return LABSE_OK;
}

static labse_status null_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu,
                                int n, float *out, labse_error *err) {
    (void)slot;
    return null_encode(ctx, ids, cu, n, out, err);
}

static labse_status null_wait(void *ctx, int slot, labse_error *err) {
    (void)ctx;
    (void)slot;
    (void)err;
    return LABSE_OK; /* submit already wrote the rows */
}

static void null_destroy(void *ctx) { free(ctx); }

labse_status lb_backend_null(const lb_engine *e, lb_backend *be, labse_error *err) {
    null_ctx *c = calloc(1, sizeof *c);
    if (!c) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    c->dim = (size_t)lb_engine_dim(e);
    be->ctx = c;
    be->depth = 1;
    be->name = "null";
    be->host_alloc = lb_host_alloc64;
    be->host_free = lb_host_free64;
    be->submit = null_submit;
    be->wait = null_wait;
    be->encode = null_encode;
    be->destroy = null_destroy;
    be->timing = NULL;
    be->mem = NULL;
    return LABSE_OK;
}
