/* backend_cpu.c — the CPU implementation of the backend seam (backend.h): depth 1, submit
 * computes synchronously through lb_cpu_forward on the backend's own workspace (in bf16 when
 * the engine has bf16 weights), 64-byte
 * aligned host buffers. The GPU backend (backend_gpu.c) fills the same struct with pinned
 * buffers, streams and events. */
#include <stdlib.h>

#include "base/common.h"
#include "cpu/encoder.h"
#include "engine/engine.h"

typedef struct cpu_ctx {
    const lb_model *m;
    int threads;           /* the engine's threads option (0 = all cores) */
    lb_cpu_ws *ws;
} cpu_ctx;

void *lb_host_alloc64(void *ctx, size_t bytes) {
    (void)ctx;
    size_t b = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, b ? b : 64);
}

void lb_host_free64(void *ctx, void *p) {
    (void)ctx;
    free(p);
}

static labse_status cpu_encode(void *ctx, const int32_t *ids, const int32_t *cu, int n,
                               float *out, labse_error *err) {
    cpu_ctx *c = ctx;
    lb_batch b = {.n = n, .ids = ids, .cu_seqlens = cu};
    return lb_cpu_forward(c->m, c->ws, &b, c->threads, out, NULL, err);
}

static labse_status cpu_submit(void *ctx, int slot, const int32_t *ids, const int32_t *cu,
                               int n, float *out, labse_error *err) {
    (void)slot;
    return cpu_encode(ctx, ids, cu, n, out, err);
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
    lb_cpu_ws_free(c->ws);
    free(c);
}

labse_status lb_backend_cpu(const lb_engine *e, lb_backend *be, labse_error *err) {
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c || !(c->ws = lb_cpu_ws_new())) {
        free(c);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    c->m = lb_engine_model(e);
    c->threads = lb_engine_options(e)->threads;
    lb_cpu_ws_set_bf16(c->ws, lb_engine_cpu_bf16(e)); /* NULL: fp32 */
    lb_cpu_ws_set_fp8(c->ws, lb_engine_cpu_fp8(e));   /* NULL: fp32 */
    be->ctx = c;
    be->depth = 1;
    be->name = "cpu";
    be->host_alloc = lb_host_alloc64;
    be->host_free = lb_host_free64;
    be->submit = cpu_submit;
    be->wait = cpu_wait;
    be->encode = cpu_encode;
    be->destroy = cpu_destroy;
    be->timing = NULL;
    be->mem = NULL;
    return LABSE_OK;
}
