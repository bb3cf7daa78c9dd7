/* gpu_model.c — the model's weights on one device: GEMM weights and embeddings in fp16
 * (converted once from the loaded fp32, round to nearest even), LayerNorm parameters in fp32,
 * and with precision fp8 the encoder layers' four GEMM weights as E4M3 codes with one fp32 scale
 * per output channel instead (put_fp8: kernels/quant_fp8.cuh's row rule on the fp32 rows),
 * all in one arena (one cudaMalloc, 256-byte aligned tensors) so that "does the model fit" is
 * one clear answer. The fused QKV weight [3H, H] comes from the loader (model.h). */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "gpu/gpu_internal.h"
#include "base/fp8.h"
#include "base/half.h"
#include "model/act_bound.h"

#define ALIGN 256
#define CHUNK ((size_t)1 << 22) /* host staging: 4 Mi elements at a time */

typedef struct plan {
    char *base;      /* NULL during the sizing pass */
    size_t used;
    void *stage;     /* host staging buffer [CHUNK] (upload pass) */
    cudaError_t e;
    const char *what;
} plan;

/* Reserve n elements of es bytes; upload src converted (to fp16 when es == 2) on pass 2. */
static void *put(plan *p, const float *src, size_t n, size_t es, const char *what) {
    size_t off = (p->used + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    p->used = off + n * es;
    if (!p->base || p->e != cudaSuccess) return p->base ? p->base + off : (void *)1;
    char *dst = p->base + off;
    for (size_t at = 0; at < n && p->e == cudaSuccess; at += CHUNK) {
        size_t k = n - at < CHUNK ? n - at : CHUNK;
        if (es == 2) {
            uint16_t *h = p->stage;
            for (size_t i = 0; i < k; i++) h[i] = lb_f32_to_f16(src[at + i]);
        } else {
            memcpy(p->stage, src + at, k * 4);
        }
        p->e = cudaMemcpy(dst + at * es, p->stage, k * es, cudaMemcpyHostToDevice);
        if (p->e != cudaSuccess) p->what = what;
    }
    return dst;
}

/* Reserve bytes (256-byte aligned): the address on pass 2, a dummy non-NULL one when sizing. */
static void *reserve(plan *p, size_t bytes) {
    const size_t off = (p->used + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    p->used = off + bytes;
    return p->base ? p->base + off : (void *)1;
}

/* Reserve W [out, in] as E4M3 codes and its [out] fp32 row scales; on pass 2 quantise each row
 * (amax, 448 / amax, one product and one rounding per weight: quant_fp8.cuh) and upload. */
static void put_fp8(plan *p, const lb_linear *l, lb_gpu_linear *g, const char *what) {
    const size_t K = (size_t)l->in, N = (size_t)l->out;
    uint8_t *codes = reserve(p, N * K);
    float *scales = reserve(p, N * 4);
    g->w8 = codes;
    g->s8 = scales;
    if (!p->base || p->e != cudaSuccess) return;
    float *sc = malloc(N * sizeof *sc);
    if (!sc) {
        p->e = cudaErrorMemoryAllocation;
        p->what = what;
        return;
    }
    const size_t rows = CHUNK * 4 / K > 0 ? CHUNK * 4 / K : 1; /* the staging buffer's bytes */
    for (size_t r0 = 0; r0 < N && p->e == cudaSuccess; r0 += rows) {
        const size_t nr = N - r0 < rows ? N - r0 : rows;
        uint8_t *h = p->stage;
        for (size_t r = 0; r < nr; r++) {
            sc[r0 + r] = lb_e4m3_quant_row(l->w + (r0 + r) * K, K, h + r * K);
        }
        p->e = cudaMemcpy(codes + r0 * K, h, nr * K, cudaMemcpyHostToDevice);
    }
    if (p->e == cudaSuccess) p->e = cudaMemcpy(scales, sc, N * 4, cudaMemcpyHostToDevice);
    if (p->e != cudaSuccess) p->what = what;
    free(sc);
}

/* fp8: the weight as put_fp8 makes it (w NULL), else fp16. */
static void put_linear(plan *p, const lb_linear *l, lb_gpu_linear *g, int fp8, const char *what) {
    g->in = l->in;
    g->out = l->out;
    if (fp8) put_fp8(p, l, g, what);
    else g->w = put(p, l->w, (size_t)l->in * l->out, 2, what);
    g->b = l->b ? put(p, l->b, (size_t)l->out, 2, what) : NULL;
}

/* One pass over every tensor (sizing when p->base is NULL, uploading otherwise). */
static void walk(plan *p, const lb_model *m, lb_gpu_weights *w) {
    const lb_config *c = &m->cfg;
    const size_t H = (size_t)c->hidden;
    w->word = put(p, m->word_emb, (size_t)c->vocab_size * H, 2, "word embeddings");
    w->pos = put(p, m->pos_emb, (size_t)c->max_position * H, 2, "position embeddings");
    w->type = put(p, m->type_emb, (size_t)c->type_vocab * H, 2, "token type embeddings");
    w->emb_g = put(p, m->emb_ln_g, H, 4, "embedding LayerNorm");
    w->emb_b = put(p, m->emb_ln_b, H, 4, "embedding LayerNorm");
    for (int l = 0; l < c->layers; l++) {
        const lb_layer *s = &m->layer[l];
        lb_gpu_layer *d = &w->layer[l];
        put_linear(p, &s->qkv, &d->qkv, w->fp8_gemms & LB_FP8_QKV, "attention QKV");
        put_linear(p, &s->attn_out, &d->attn_out, w->fp8_gemms & LB_FP8_OUT, "attention output");
        put_linear(p, &s->ffn_up, &d->ffn_up, w->fp8_gemms & LB_FP8_UP, "FFN up");
        put_linear(p, &s->ffn_down, &d->ffn_down, w->fp8_gemms & LB_FP8_DOWN, "FFN down");
        d->ln1_g = put(p, s->ln1_g, H, 4, "LayerNorm");
        d->ln1_b = put(p, s->ln1_b, H, 4, "LayerNorm");
        d->ln2_g = put(p, s->ln2_g, H, 4, "LayerNorm");
        d->ln2_b = put(p, s->ln2_b, H, 4, "LayerNorm");
        if (w->fp8) { /* the static scales of the context and the FFN activation (computed
                         * once, on the upload pass: the sizing pass needs only their place) */
            if (p->base && p->e == cudaSuccess) {
                if (lb_act_bounds(m, l, &d->ctx_bound, &d->big_bound)) {
                    p->e = cudaErrorInvalidValue;
                    p->what = "fp8 activation bounds (the layer's weights are not finite)";
                } else {
                    d->big_inv = LB_E4M3_MAX / d->big_bound;
                }
            }
            d->big_inv_dev = put(p, &d->big_inv, 1, 4, "fp8 scales");
        }
    }
    for (int k = 0; k < m->n_dense; k++) {
        put_linear(p, &m->dense[k].lin, &w->dense[k], 0, "Dense");
        w->dense_act[k] = m->dense[k].act;
    }
}

labse_status lb_gpu_weights_new(const lb_model *m, int device, lb_gpu_weights **out,
                                labse_error *err) {
    return lb_gpu_weights_new_prec(m, device, 0, out, err);
}

/* LABSE_GPU_FP8_GEMMS (environment, precision fp8 only): which of the layers' GEMMs run in fp8,
 * a comma-separated subset of qkv, out, up, down, or all (the default); the others stay fp16.
 * For measuring each GEMM's share of the fp8 error (README "Precision"). */
static labse_status fp8_gemms(int *bits, labse_error *err) {
    static const char *const names[4] = {"qkv", "out", "up", "down"};
    const char *v = getenv("LABSE_GPU_FP8_GEMMS");
    *bits = LB_FP8_ALL;
    if (!v || !*v || !strcmp(v, "all")) return LABSE_OK;
    *bits = 0;
    for (const char *p = v; *p;) {
        const size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < 4; i++)
            if (strlen(names[i]) == len && !strncmp(p, names[i], len)) *bits |= 1 << i, found = 1;
        if (!found)
            return lb_err(err, LABSE_E_INVALID,
                          "LABSE_GPU_FP8_GEMMS=%s: expected all or a comma-separated subset of qkv, out, up, down", v);
        p += len + (p[len] == ',');
    }
    return LABSE_OK;
}

labse_status lb_gpu_weights_new_prec(const lb_model *m, int device, int fp8, lb_gpu_weights **out,
                                     labse_error *err) {
    int gemms = 0;
    if (fp8) {
        labse_status s0 = fp8_gemms(&gemms, err);
        if (s0 != LABSE_OK) return s0;
    }
    labse_status st = LABSE_OK;
    plan p = {0};
    lb_gpu_weights *w = calloc(1, sizeof *w);
    if (!w) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    w->device = device;
    w->fp8 = fp8 != 0;
    w->fp8_gemms = gemms;
    w->n_dense = m->n_dense;
    w->layer = calloc((size_t)m->cfg.layers, sizeof *w->layer);
    w->dense = calloc((size_t)(m->n_dense ? m->n_dense : 1), sizeof *w->dense);
    w->dense_act = calloc((size_t)(m->n_dense ? m->n_dense : 1), sizeof *w->dense_act);
    p.stage = malloc(CHUNK * 4);
    if (!w->layer || !w->dense || !w->dense_act || !p.stage) {
        st = lb_err(err, LABSE_E_NOMEM, "out of memory");
        goto fail;
    }
    walk(&p, m, w); /* sizing */
    w->bytes = p.used;
    LB_CU(cudaSetDevice(device));
    {
        cudaError_t e = cudaMalloc(&w->arena, w->bytes);
        if (e != cudaSuccess) {
            w->arena = NULL;
            cudaGetLastError();
            size_t fb = 0, tb = 0;
            if (cudaMemGetInfo(&fb, &tb) != cudaSuccess) fb = tb = 0;
            st = lb_err(err, LABSE_E_CUDA,
                        "GPU out of memory: the model's weights need %.0f MiB in %s, %.0f MiB "
                        "free of %.0f MiB on cuda:%d (%s)",
                        w->bytes / 1048576.0, w->fp8 ? "fp8" : "fp16", fb / 1048576.0, tb / 1048576.0, device,
                        cudaGetErrorString(e));
            goto fail;
        }
    }
    p.base = w->arena;
    p.used = 0;
    walk(&p, m, w); /* upload */
    if (p.e != cudaSuccess) {
        st = lb_cuda_fail(err, p.e, "cudaMemcpy(weights)", __FILE__, __LINE__);
        lb_err_prefix(err, "uploading %s", p.what ? p.what : "weights");
        goto fail;
    }
    free(p.stage);
    *out = w;
    return LABSE_OK;
fail:
    free(p.stage);
    lb_gpu_weights_free(w);
    return st;
}

void lb_gpu_weights_free(lb_gpu_weights *w) {
    if (!w) return;
    if (w->arena) cudaFree(w->arena);
    free(w->layer);
    free(w->dense);
    free(w->dense_act);
    free(w);
}

size_t lb_gpu_weights_bytes(const lb_gpu_weights *w) { return w ? w->bytes : 0; }

int lb_gpu_weights_fp8(const lb_gpu_weights *w) { return w ? w->fp8 : 0; }
