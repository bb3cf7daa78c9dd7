/* cpu_bf16.c — bf16 weights and GEMMs for the CPU encoder through oneDNN (cpu_bf16.h).
 *
 * Why oneDNN: Debian 12's OpenBLAS (0.3.21) declares cblas_sbgemm but is built without
 * BUILD_BFLOAT16 and does not export it; oneDNN dispatches on CPU features (AVX512-BF16,
 * AMX), not on a table of CPU models. Measured in bench/bench_gemm_bf16.c, README "Precision".
 *
 * Weights stay in their [out, in] row-major layout as bf16 (oneDNN's "ba" tag of an in × out
 * matrix); one matmul primitive per (in, out) shape with the token count M a run-time
 * dimension, so a primitive is made once at load, not per batch size. */
#include "cpu/cpu_bf16.h"

#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "io/quant.h"

void lb_f32_to_bf16(const float *x, uint16_t *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = lb_bf16_from_f32(x[i]); /* io/quant.h */
}

#ifdef LABSE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

#define LB_BF16_SHAPES 8 /* distinct (in, out) pairs: LaBSE has 4 in the encoder + 1 Dense */

typedef struct bf16_lin {
    const lb_linear *lin; /* the fp32 linear it copies (the lookup key) */
    uint16_t *w;          /* [out, in] bf16 */
    int shape;            /* index into prims */
} bf16_lin;

struct lb_cpu_bf16 {
    dnnl_engine_t eng;
    int n_shapes;
    int shape_in[LB_BF16_SHAPES], shape_out[LB_BF16_SHAPES];
    dnnl_primitive_t prim[LB_BF16_SHAPES];
    int n_lin;
    bf16_lin *lins;
};

/* Make the matmul primitive for x[M, in] · W^T, W [out, in] bf16, y f32, M at run time.
 * impl receives the implementation's name (static storage of oneDNN). */
static dnnl_status_t make_prim(dnnl_engine_t eng, int in, int out, dnnl_primitive_t *prim,
                               const char **impl) {
    dnnl_memory_desc_t sd, wd, dd;
    dnnl_dims_t s = {DNNL_RUNTIME_DIM_VAL, in}, w = {in, out}, o = {DNNL_RUNTIME_DIM_VAL, out};
    dnnl_status_t st;
    if ((st = dnnl_memory_desc_init_by_tag(&sd, 2, s, dnnl_bf16, dnnl_ab)) != dnnl_success ||
        (st = dnnl_memory_desc_init_by_tag(&wd, 2, w, dnnl_bf16, dnnl_ba)) != dnnl_success ||
        (st = dnnl_memory_desc_init_by_tag(&dd, 2, o, dnnl_f32, dnnl_ab)) != dnnl_success)
        return st;
    dnnl_matmul_desc_t md;
    if ((st = dnnl_matmul_desc_init(&md, &sd, &wd, NULL, &dd)) != dnnl_success) return st;
    dnnl_primitive_desc_t pd;
    if ((st = dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL)) != dnnl_success) return st;
    *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl);
    st = dnnl_primitive_create(prim, pd);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Effective ISA with the bf16 dot product (AVX512-BF16; AMX includes it)? */
static int isa_has_bf16(void) {
    const unsigned want = (unsigned)dnnl_cpu_isa_avx512_core_bf16;
    return ((unsigned)dnnl_get_effective_cpu_isa() & want) == want;
}

labse_status lb_cpu_bf16_check(labse_error *err) {
    if (!isa_has_bf16())
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "precision bf16: this CPU has no AVX512-BF16 or AMX instructions (as "
                      "oneDNN sees it, ONEDNN_MAX_CPU_ISA included); use precision fp32");
    dnnl_engine_t eng;
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success)
        return lb_err(err, LABSE_E_UNSUPPORTED, "precision bf16: oneDNN has no CPU engine");
    dnnl_primitive_t prim = NULL;
    const char *impl = "?";
    dnnl_status_t st = make_prim(eng, 768, 768, &prim, &impl);
    labse_status r = LABSE_OK;
    if (st != dnnl_success)
        r = lb_err(err, LABSE_E_UNSUPPORTED, "precision bf16: oneDNN has no bf16 matmul here (status %d)",
                   (int)st);
    else if (strncmp(impl, "ref", 3) == 0)
        r = lb_err(err, LABSE_E_UNSUPPORTED,
                   "precision bf16: oneDNN offers only its reference bf16 matmul (%s) on this CPU; "
                   "use precision fp32", impl);
    if (prim) dnnl_primitive_destroy(prim);
    dnnl_engine_destroy(eng);
    return r;
}

void lb_cpu_bf16_free(lb_cpu_bf16 *p) {
    if (!p) return;
    for (int i = 0; i < p->n_shapes; i++)
        if (p->prim[i]) dnnl_primitive_destroy(p->prim[i]);
    for (int i = 0; i < p->n_lin; i++) free(p->lins[i].w);
    free(p->lins);
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

/* Add lin's bf16 copy to p (and its shape's primitive when new). */
static labse_status add_linear(lb_cpu_bf16 *p, const lb_linear *lin, labse_error *err) {
    bf16_lin *b = &p->lins[p->n_lin];
    b->lin = lin;
    int s = 0;
    while (s < p->n_shapes && (p->shape_in[s] != lin->in || p->shape_out[s] != lin->out)) s++;
    if (s == p->n_shapes) {
        if (s == LB_BF16_SHAPES)
            return lb_err(err, LABSE_E_UNSUPPORTED, "precision bf16: more than %d linear shapes",
                          LB_BF16_SHAPES);
        const char *impl;
        dnnl_status_t st = make_prim(p->eng, lin->in, lin->out, &p->prim[s], &impl);
        if (st != dnnl_success)
            return lb_err(err, LABSE_E_UNSUPPORTED,
                          "precision bf16: oneDNN matmul %d -> %d: status %d", lin->in, lin->out,
                          (int)st);
        p->shape_in[s] = lin->in;
        p->shape_out[s] = lin->out;
        p->n_shapes++;
    }
    b->shape = s;
    size_t n = (size_t)lin->in * lin->out;
    if (!(b->w = malloc(n * sizeof *b->w)))
        return lb_err(err, LABSE_E_NOMEM, "precision bf16: out of memory for the bf16 weights");
    p->n_lin++;
    lb_f32_to_bf16(lin->w, b->w, n);
    return LABSE_OK;
}

labse_status lb_cpu_bf16_new(const lb_model *m, lb_cpu_bf16 **out, labse_error *err) {
    labse_status st = lb_cpu_bf16_check(err);
    if (st != LABSE_OK) return st;
    lb_cpu_bf16 *p = calloc(1, sizeof *p);
    const int n = 4 * m->cfg.layers + m->n_dense;
    if (!p || !(p->lins = calloc((size_t)n, sizeof *p->lins))) {
        free(p);
        return lb_err(err, LABSE_E_NOMEM, "precision bf16: out of memory");
    }
    if (dnnl_engine_create(&p->eng, dnnl_cpu, 0) != dnnl_success) {
        lb_cpu_bf16_free(p);
        return lb_err(err, LABSE_E_UNSUPPORTED, "precision bf16: oneDNN has no CPU engine");
    }
    for (int l = 0; l < m->cfg.layers && st == LABSE_OK; l++) {
        const lb_layer *ly = &m->layer[l];
        if ((st = add_linear(p, &ly->qkv, err)) == LABSE_OK &&
            (st = add_linear(p, &ly->attn_out, err)) == LABSE_OK &&
            (st = add_linear(p, &ly->ffn_up, err)) == LABSE_OK)
            st = add_linear(p, &ly->ffn_down, err);
    }
    for (int k = 0; k < m->n_dense && st == LABSE_OK; k++)
        st = add_linear(p, &m->dense[k].lin, err);
    if (st != LABSE_OK) {
        lb_cpu_bf16_free(p);
        return st;
    }
    *out = p;
    return LABSE_OK;
}

labse_status lb_cpu_bf16_gemm(const lb_cpu_bf16 *p, const lb_linear *lin, const float *x, int T,
                              uint16_t *xb, float *y, labse_error *err) {
    const bf16_lin *b = NULL;
    for (int i = 0; i < p->n_lin && !b; i++)
        if (p->lins[i].lin == lin) b = &p->lins[i];
    if (!b) return lb_err(err, LABSE_E_INVALID, "bf16 gemm: a linear the model does not have");
    lb_f32_to_bf16(x, xb, (size_t)T * lin->in);
    dnnl_memory_desc_t sd, wd, dd;
    dnnl_dims_t s = {T, lin->in}, w = {lin->in, lin->out}, o = {T, lin->out};
    dnnl_memory_desc_init_by_tag(&sd, 2, s, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wd, 2, w, dnnl_bf16, dnnl_ba);
    dnnl_memory_desc_init_by_tag(&dd, 2, o, dnnl_f32, dnnl_ab);
    dnnl_memory_t ms = NULL, mw = NULL, md = NULL;
    dnnl_stream_t str = NULL;
    dnnl_status_t st;
    if ((st = dnnl_memory_create(&ms, &sd, p->eng, xb)) == dnnl_success &&
        (st = dnnl_memory_create(&mw, &wd, p->eng, b->w)) == dnnl_success &&
        (st = dnnl_memory_create(&md, &dd, p->eng, y)) == dnnl_success &&
        (st = dnnl_stream_create(&str, p->eng, dnnl_stream_default_flags)) == dnnl_success) {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, md}};
        if ((st = dnnl_primitive_execute(p->prim[b->shape], str, 3, a)) == dnnl_success)
            st = dnnl_stream_wait(str);
    }
    if (str) dnnl_stream_destroy(str);
    if (md) dnnl_memory_destroy(md);
    if (mw) dnnl_memory_destroy(mw);
    if (ms) dnnl_memory_destroy(ms);
    if (st != dnnl_success)
        return lb_err(err, LABSE_E_UNSUPPORTED, "bf16 gemm %d x %d -> %d: oneDNN status %d", T,
                      lin->in, lin->out, (int)st);
    return LABSE_OK;
}

#else /* no oneDNN in this build */

struct lb_cpu_bf16 {
    int unused;
};

labse_status lb_cpu_bf16_check(labse_error *err) {
    return lb_err(err, LABSE_E_UNSUPPORTED,
                  "precision bf16: this build has no oneDNN (install libdnnl-dev and rebuild); "
                  "use precision fp32");
}

labse_status lb_cpu_bf16_new(const lb_model *m, lb_cpu_bf16 **out, labse_error *err) {
    (void)m;
    (void)out;
    return lb_cpu_bf16_check(err);
}

void lb_cpu_bf16_free(lb_cpu_bf16 *p) { free(p); }

labse_status lb_cpu_bf16_gemm(const lb_cpu_bf16 *p, const lb_linear *lin, const float *x, int T,
                              uint16_t *xb, float *y, labse_error *err) {
    (void)p; (void)lin; (void)x; (void)T; (void)xb; (void)y;
    return lb_cpu_bf16_check(err);
}

#endif
