/* ref_forward.c — the naive reference forward pass: the oracle of every encoder test.
 *
 * Written for obviousness, not speed: one sequence at a time, plain loops, every dot product
 * and every statistic accumulated in double, exact softmax (max-subtracted, double exp), GELU
 * with erf. It shares no code with the fast backend (cpu_forward.c) beyond lb_model, so a bug
 * in one is not silently repeated in the other.
 *
 * BERT encoder, post-LayerNorm (H = hidden, I = intermediate, L = sequence length):
 *   x = LN(word[id] + pos[p] + type[0])                              [L, H]
 *   per layer: q,k,v = x Wq^T + bq, ...                               [L, H] each
 *              a_h  = softmax(q_h k_h^T / sqrt(d)) v_h  per head h    [L, d]
 *              x    = LN(x + concat_h(a_h) Wo^T + bo)
 *              x    = LN(x + gelu(x Wi^T + bi) Wd^T + bd)
 *   pooled = x[0] (cls) or mean_i x[i] (mean); then Dense modules; then L2 normalise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/encoder.h"

/* y[L, out] = x[L, in] W^T + b, double accumulation. */
static void ref_linear(const double *x, int L, const lb_linear *lin, double *y) {
    for (int t = 0; t < L; t++)
        for (int o = 0; o < lin->out; o++) {
            double acc = lin->b ? (double)lin->b[o] : 0.0;
            const float *w = lin->w + (size_t)o * lin->in;
            for (int i = 0; i < lin->in; i++) acc += x[(size_t)t * lin->in + i] * (double)w[i];
            y[(size_t)t * lin->out + o] = acc;
        }
}

/* In place LayerNorm over rows of width H. */
static void ref_layernorm(double *x, int L, int H, const float *g, const float *b, double eps) {
    for (int t = 0; t < L; t++) {
        double *r = x + (size_t)t * H, mean = 0, var = 0;
        for (int i = 0; i < H; i++) mean += r[i];
        mean /= H;
        for (int i = 0; i < H; i++) var += (r[i] - mean) * (r[i] - mean);
        var /= H;
        double inv = 1.0 / sqrt(var + eps);
        for (int i = 0; i < H; i++) r[i] = (r[i] - mean) * inv * g[i] + b[i];
    }
}

static double ref_act(lb_act a, double v) {
    switch (a) {
    case LB_ACT_TANH: return tanh(v);
    case LB_ACT_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case LB_ACT_GELU_TANH: return 0.5 * v * (1.0 + tanh(sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v)));
    case LB_ACT_RELU: return v > 0 ? v : 0;
    case LB_ACT_IDENTITY: break;
    }
    return v;
}

/* One sequence of length L: writes the pooled, Dense'd, normalised embedding (out[dim]) and,
 * when hid is not NULL, the last hidden states hid[L, H]. Returns 0, or -1 on NOMEM. */
static int ref_sequence(const lb_model *m, const int32_t *ids, int L, float *out, float *hid) {
    const lb_config *c = &m->cfg;
    const int H = c->hidden, I = c->intermediate, d = c->head_dim;
    size_t maxw = (size_t)(I > 3 * H ? I : 3 * H);
    int widest = H;
    for (int k = 0; k < m->n_dense; k++) {
        if (m->dense[k].lin.out > widest) widest = m->dense[k].lin.out;
        if (m->dense[k].lin.in > widest) widest = m->dense[k].lin.in;
    }
    double *x = malloc(sizeof(double) * (size_t)L * H);
    double *qkv = malloc(sizeof(double) * (size_t)L * maxw);
    double *ctx = malloc(sizeof(double) * (size_t)L * H);
    double *tmp = malloc(sizeof(double) * (size_t)L * H);
    double *p = malloc(sizeof(double) * (size_t)L);
    double *v0 = malloc(sizeof(double) * (size_t)widest), *v1 = malloc(sizeof(double) * (size_t)widest);
    int rc = -1;
    if (!x || !qkv || !ctx || !tmp || !p || !v0 || !v1) goto done;

    for (int t = 0; t < L; t++)
        for (int i = 0; i < H; i++)
            x[(size_t)t * H + i] = (double)m->word_emb[(size_t)ids[t] * H + i] +
                                   (double)m->pos_emb[(size_t)t * H + i] + (double)m->type_emb[i];
    ref_layernorm(x, L, H, m->emb_ln_g, m->emb_ln_b, c->ln_eps);

    for (int l = 0; l < c->layers; l++) {
        const lb_layer *ly = &m->layer[l];
        ref_linear(x, L, &ly->qkv, qkv); /* [L, 3H]: q | k | v */
        const double scale = 1.0 / sqrt((double)d);
        for (int h = 0; h < c->heads; h++)
            for (int i = 0; i < L; i++) {
                const double *q = qkv + (size_t)i * 3 * H + h * d;
                double mx = -INFINITY;
                for (int j = 0; j < L; j++) {
                    const double *k = qkv + (size_t)j * 3 * H + H + h * d;
                    double s = 0;
                    for (int e = 0; e < d; e++) s += q[e] * k[e];
                    p[j] = s * scale;
                    if (p[j] > mx) mx = p[j];
                }
                double sum = 0;
                for (int j = 0; j < L; j++) sum += (p[j] = exp(p[j] - mx));
                for (int e = 0; e < d; e++) {
                    double a = 0;
                    for (int j = 0; j < L; j++) a += p[j] * qkv[(size_t)j * 3 * H + 2 * H + h * d + e];
                    ctx[(size_t)i * H + h * d + e] = a / sum;
                }
            }
        ref_linear(ctx, L, &ly->attn_out, tmp);
        for (size_t i = 0; i < (size_t)L * H; i++) x[i] += tmp[i];
        ref_layernorm(x, L, H, ly->ln1_g, ly->ln1_b, c->ln_eps);
        ref_linear(x, L, &ly->ffn_up, qkv); /* [L, I] */
        for (size_t i = 0; i < (size_t)L * I; i++) qkv[i] = ref_act(c->hidden_act, qkv[i]);
        ref_linear(qkv, L, &ly->ffn_down, tmp);
        for (size_t i = 0; i < (size_t)L * H; i++) x[i] += tmp[i];
        ref_layernorm(x, L, H, ly->ln2_g, ly->ln2_b, c->ln_eps);
    }
    if (hid)
        for (size_t i = 0; i < (size_t)L * H; i++) hid[i] = (float)x[i];

    int n = H;
    if (c->pooling == LABSE_POOL_CLS) {
        memcpy(v0, x, sizeof(double) * H);
    } else {
        for (int i = 0; i < H; i++) {
            double s = 0;
            for (int t = 0; t < L; t++) s += x[(size_t)t * H + i];
            v0[i] = s / L;
        }
    }
    for (int k = 0; k < m->n_dense; k++) {
        ref_linear(v0, 1, &m->dense[k].lin, v1);
        n = m->dense[k].lin.out;
        for (int i = 0; i < n; i++) v0[i] = ref_act(m->dense[k].act, v1[i]);
    }
    double norm = 1.0;
    if (c->normalize) {
        double ss = 0;
        for (int i = 0; i < n; i++) ss += v0[i] * v0[i];
        norm = sqrt(ss);
        if (norm < 1e-12) norm = 1e-12; /* torch.nn.functional.normalize's eps */
    }
    for (int i = 0; i < n; i++) out[i] = (float)(v0[i] / norm);
    rc = 0;
done:
    free(x); free(qkv); free(ctx); free(tmp); free(p); free(v0); free(v1);
    return rc;
}

labse_status lb_ref_forward(const lb_model *m, const lb_batch *b, float *out, float *hidden_out,
                            labse_error *err) {
    labse_status st = lb_batch_check(m, b, err);
    if (st != LABSE_OK) return st;
    for (int s = 0; s < b->n; s++) {
        int off = b->cu_seqlens[s], L = b->cu_seqlens[s + 1] - off;
        if (ref_sequence(m, b->ids + off, L, out + (size_t)s * m->cfg.dim,
                         hidden_out ? hidden_out + (size_t)off * m->cfg.hidden : NULL))
            return lb_err(err, LABSE_E_NOMEM, "reference forward: out of memory (length %d)", L);
    }
    return LABSE_OK;
}
