/* gpu_model.c — the model's weights on one device: GEMM weights and embeddings in fp16
 * (converted once from the loaded fp32, round to nearest even), LayerNorm parameters in fp32,
 * all in one arena (one cudaMalloc, 256-byte aligned tensors) so that "does the model fit" is
 * one clear answer. The fused QKV weight [3H, H] comes from the loader (model.h). */
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_internal.h"
#include "base/half.h"

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

static void put_linear(plan *p, const lb_linear *l, lb_gpu_linear *g, const char *what) {
    g->in = l->in;
    g->out = l->out;
    g->w = put(p, l->w, (size_t)l->in * l->out, 2, what);
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
        put_linear(p, &s->qkv, &d->qkv, "attention QKV");
        put_linear(p, &s->attn_out, &d->attn_out, "attention output");
        put_linear(p, &s->ffn_up, &d->ffn_up, "FFN up");
        put_linear(p, &s->ffn_down, &d->ffn_down, "FFN down");
        d->ln1_g = put(p, s->ln1_g, H, 4, "LayerNorm");
        d->ln1_b = put(p, s->ln1_b, H, 4, "LayerNorm");
        d->ln2_g = put(p, s->ln2_g, H, 4, "LayerNorm");
        d->ln2_b = put(p, s->ln2_b, H, 4, "LayerNorm");
    }
    for (int k = 0; k < m->n_dense; k++) {
        put_linear(p, &m->dense[k].lin, &w->dense[k], "Dense");
        w->dense_act[k] = m->dense[k].act;
    }
}

labse_status lb_gpu_weights_new(const lb_model *m, int device, lb_gpu_weights **out,
                                labse_error *err) {
    labse_status st = LABSE_OK;
    plan p = {0};
    lb_gpu_weights *w = calloc(1, sizeof *w);
    if (!w) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    w->device = device;
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
                        "GPU out of memory: the model's weights need %.0f MiB in fp16, %.0f MiB "
                        "free of %.0f MiB on cuda:%d (%s)",
                        w->bytes / 1048576.0, fb / 1048576.0, tb / 1048576.0, device,
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
