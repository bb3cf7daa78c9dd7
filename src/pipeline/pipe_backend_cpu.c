/* pipe_backend_cpu.c — the CPU implementation of the pipeline's backend seam (pipeline.h):
 * depth 1, synchronous submit through labse_encode_ids on one session, 64-byte aligned host
 * buffers. The GPU backend fills the same struct with pinned buffers, streams and events. */
#include <stdlib.h>

#include "base/common.h"
#include "pipeline/pipeline.h"

typedef struct cpu_ctx {
    labse_session *s;
} cpu_ctx;

static void *cpu_alloc(void *ctx, size_t bytes) {
    (void)ctx;
    size_t b = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, b ? b : 64);
}

static void cpu_free(void *ctx, void *p) {
    (void)ctx;
    free(p);
}

static labse_status cpu_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu,
                               int n, float *out, labse_error *err) {
    (void)slot;
    cpu_ctx *c = ctx;
    return labse_encode_ids(c->s, ids, cu, (size_t)n, out, err);
}

static labse_status cpu_wait(void *ctx, int slot, labse_error *err) {
    (void)ctx;
    (void)slot;
    (void)err;
    return LABSE_OK; /* submit already computed the rows */
}

static void cpu_destroy(void *ctx) {
    cpu_ctx *c = ctx;
    if (!c) return;
    labse_session_free(c->s);
    free(c);
}

labse_status lb_pipe_backend_cpu(const labse_model *m, lb_pipe_backend *be, labse_error *err) {
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    labse_status s = labse_session_new(m, &c->s, err);
    if (s != LABSE_OK) {
        free(c);
        return s;
    }
    be->ctx = c;
    be->depth = 1;
    be->name = "cpu";
    be->host_alloc = cpu_alloc;
    be->host_free = cpu_free;
    be->submit = cpu_submit;
    be->wait = cpu_wait;
    be->destroy = cpu_destroy;
    be->timing = NULL;
    return LABSE_OK;
}
