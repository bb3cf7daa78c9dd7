/* cpu_forward.c — the fast CPU encoder: fp32, padding-free, OpenBLAS GEMMs + OpenMP loops;
 * with bf16 weights attached (lb_cpu_ws_set_bf16) the linear layers' GEMMs run in bf16 through
 * cpu_bf16.h instead (inputs rounded to bf16, fp32 accumulation), everything else as in fp32;
 * with the fp8 model attached (lb_cpu_ws_set_fp8) the layers' four GEMMs run as the GPU's fp8
 * path computes them (cpu_fp8.h).
 *
 * The batch is T = cu_seqlens[n] tokens back to back. GEMMs run on all T rows at once
 * (no FLOP on padding); attention runs per (sequence, head) pair; pooling reads each
 * sequence's own rows. Same maths as ref_forward.c (the oracle), in float with float
 * accumulation inside BLAS and double for LayerNorm statistics and the softmax sum.
 *
 * Workspace (grown on demand, reused across calls), T tokens, H hidden, FF intermediate:
 *   x [T, H]   hidden states          qkv [T, 3H]  fused projections (also FFN [T, FF])
 *   ctx [T, H] attention output        tmp [T, H]   projection outputs
 *   per thread: kt [d, Lmax] (K of one head, transposed), p [Lmax] (one score row)
 *   xb [T, max(FF, 3H)] bf16 copy of a GEMM's input (bf16 only); the fp8 model's scratch for
 *      a GEMM's input of up to max(FF, 3H) wide (fp8 model only: lb_cpu_fp8_scratch_floats)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "cpu/cpu_bf16.h"
#include "cpu/cpu_fp8.h"
#include "cpu/encoder.h"

struct lb_cpu_ws {
    float *x, *qkv, *ctx, *tmp, *scratch;
    size_t cap_x, cap_qkv, cap_ctx, cap_tmp, cap_scratch; /* in floats */
    float *xb;                    /* storage of the bf16 GEMM input (bf16 only), 2 per float */
    size_t cap_xb;                /* in floats */
    const lb_cpu_bf16 *bf16;      /* not owned; NULL = fp32 */
    const lb_cpu_fp8 *fp8;        /* not owned; NULL = fp32 (the fp8 model: cpu_fp8.h) */
};

lb_cpu_ws *lb_cpu_ws_new(void) { return calloc(1, sizeof(lb_cpu_ws)); }

void lb_cpu_ws_set_bf16(lb_cpu_ws *ws, const lb_cpu_bf16 *w) { ws->bf16 = w; }
void lb_cpu_ws_set_fp8(lb_cpu_ws *ws, const lb_cpu_fp8 *w) { ws->fp8 = w; }

/* Free the buffers and leave ws empty (its bf16 / fp8 weights stay attached). */
static void ws_release(lb_cpu_ws *ws) {
    const lb_cpu_bf16 *w = ws->bf16;
    const lb_cpu_fp8 *w8 = ws->fp8;
    free(ws->x); free(ws->qkv); free(ws->ctx); free(ws->tmp); free(ws->scratch); free(ws->xb);
    memset(ws, 0, sizeof *ws);
    ws->bf16 = w;
    ws->fp8 = w8;
}

void lb_cpu_ws_free(lb_cpu_ws *ws) {
    if (!ws) return;
    ws_release(ws);
    free(ws);
}

/* Grow *p to at least n floats (64-byte aligned). Returns 0 or -1. */
static int grow(float **p, size_t *cap, size_t n) {
    if (*cap >= n) return 0;
    free(*p);
    *p = NULL;
    *cap = 0;
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign((void **)p, 64, bytes)) { *p = NULL; return -1; }
    *cap = n;
    return 0;
}

/* y[T, out] = x[T, in] W^T (+ b, then act), W [out, in] row-major; in bf16 when ws has bf16
 * weights (then ws->xb holds at least T * in elements), as the GPU's fp8 when ws has the fp8
 * model and lin is one of its GEMMs (ws->xb: lb_cpu_fp8_scratch_floats). Fails only in bf16
 * (oneDNN). */
static labse_status linear(const lb_cpu_ws *ws, const float *x, int T, const lb_linear *lin,
                           float *y, lb_act act, labse_error *err) {
    if (ws->fp8 && lb_cpu_fp8_gemm(ws->fp8, lin, x, T, ws->xb, y)) {
        /* done: the fp8 model's GEMM */
    } else if (ws->bf16) {
        labse_status st = lb_cpu_bf16_gemm(ws->bf16, lin, x, T, (uint16_t *)ws->xb, y, err);
        if (st != LABSE_OK) return st;
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, lin->out, lin->in, 1.0f, x,
                    lin->in, lin->w, lin->in, 0.0f, y, lin->out);
    }
    const int N = lin->out;
    const float *b = lin->b;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *r = y + (size_t)t * N;
        if (b)
            for (int i = 0; i < N; i++) r[i] += b[i];
        switch (act) {
        case LB_ACT_GELU:
            for (int i = 0; i < N; i++) r[i] = 0.5f * r[i] * (1.0f + erff(r[i] * (float)M_SQRT1_2));
            break;
        case LB_ACT_GELU_TANH:
            for (int i = 0; i < N; i++)
                r[i] = 0.5f * r[i] *
                       (1.0f + tanhf(0.7978845608f * (r[i] + 0.044715f * r[i] * r[i] * r[i])));
            break;
        case LB_ACT_TANH:
            for (int i = 0; i < N; i++) r[i] = tanhf(r[i]);
            break;
        case LB_ACT_RELU:
            for (int i = 0; i < N; i++) r[i] = r[i] > 0 ? r[i] : 0;
            break;
        case LB_ACT_IDENTITY:
            break;
        }
    }
    return LABSE_OK;
}

/* x = LN(x + r) row-wise over H (r may be NULL); statistics in double. */
static void add_layernorm(float *x, const float *r, int T, int H, const float *g,
                          const float *b, float eps) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *row = x + (size_t)t * H;
        if (r) {
            const float *rr = r + (size_t)t * H;
            for (int i = 0; i < H; i++) row[i] += rr[i];
        }
        double mean = 0, var = 0;
        for (int i = 0; i < H; i++) mean += row[i];
        mean /= H;
        for (int i = 0; i < H; i++) { double d = row[i] - mean; var += d * d; }
        var /= H;
        float m = (float)mean, inv = (float)(1.0 / sqrt(var + eps));
        for (int i = 0; i < H; i++) row[i] = (row[i] - m) * inv * g[i] + b[i];
    }
}

/* Attention over all (sequence, head) pairs. qkv [T, 3H] (q | k | v), ctx [T, H] out.
 * scratch: per thread d*Lmax + Lmax floats. */
static void attention(const float *qkv, float *ctx, const lb_batch *b, int H, int heads,
                      int Lmax, float *scratch) {
    const int d = H / heads, ld = 3 * H;
    const float scale = 1.0f / sqrtf((float)d);
    const int pairs = b->n * heads;
#pragma omp parallel for schedule(dynamic, 1)
    for (int ph = 0; ph < pairs; ph++) {
        const int s = ph / heads, h = ph % heads;
        const int off = b->cu_seqlens[s], L = b->cu_seqlens[s + 1] - off;
        float *kt = scratch + (size_t)omp_get_thread_num() * ((size_t)d * Lmax + Lmax);
        float *p = kt + (size_t)d * Lmax;
        const float *base = qkv + (size_t)off * ld;
        /* kt[e][j] = K[j][e]: lets the score loop run contiguously over j. */
        for (int j = 0; j < L; j++)
            for (int e = 0; e < d; e++) kt[(size_t)e * L + j] = base[(size_t)j * ld + H + h * d + e];
        for (int i = 0; i < L; i++) {
            const float *q = base + (size_t)i * ld + h * d;
            for (int j = 0; j < L; j++) p[j] = 0.0f;
            for (int e = 0; e < d; e++) {
                const float qe = q[e] * scale;
                const float *k = kt + (size_t)e * L;
                for (int j = 0; j < L; j++) p[j] += qe * k[j];
            }
            float mx = -INFINITY;
            for (int j = 0; j < L; j++) mx = p[j] > mx ? p[j] : mx;
            double sum = 0;
            for (int j = 0; j < L; j++) { p[j] = expf(p[j] - mx); sum += p[j]; }
            const float inv = (float)(1.0 / sum);
            float *o = ctx + (size_t)(off + i) * H + h * d;
            for (int e = 0; e < d; e++) o[e] = 0.0f;
            for (int j = 0; j < L; j++) {
                const float pj = p[j] * inv;
                const float *v = base + (size_t)j * ld + 2 * H + h * d;
                for (int e = 0; e < d; e++) o[e] += pj * v[e];
            }
        }
    }
}

labse_status lb_cpu_forward(const lb_model *m, lb_cpu_ws *ws, const lb_batch *b, int threads,
                            float *out, float *hidden_out, labse_error *err) {
    labse_status st = lb_batch_check(m, b, err);
    if (st != LABSE_OK) return st;
    if (!ws || !out) return lb_err(err, LABSE_E_INVALID, "cpu forward: NULL workspace or output");
    if (b->n == 0) return LABSE_OK;
    const lb_config *c = &m->cfg;
    const int H = c->hidden, FF = c->intermediate, T = b->cu_seqlens[b->n];
    int Lmax = 0;
    for (int s = 0; s < b->n; s++) {
        int L = b->cu_seqlens[s + 1] - b->cu_seqlens[s];
        if (L > Lmax) Lmax = L;
    }
    int nt = threads > 0 ? threads : omp_get_num_procs();

    size_t wide = (size_t)(FF > 3 * H ? FF : 3 * H);
    int widest = H;
    for (int k = 0; k < m->n_dense; k++)
        if (m->dense[k].lin.out > widest) widest = m->dense[k].lin.out;
    size_t nx = (size_t)T * H, nq = (size_t)T * wide;
    if (nx < (size_t)b->n * widest) nx = (size_t)b->n * widest; /* pooled + dense reuse ctx/tmp */
    size_t ns = (size_t)nt * ((size_t)c->head_dim * Lmax + Lmax);
    if (grow(&ws->x, &ws->cap_x, nx) || grow(&ws->qkv, &ws->cap_qkv, nq) ||
        grow(&ws->ctx, &ws->cap_ctx, nx) || grow(&ws->tmp, &ws->cap_tmp, nx) ||
        grow(&ws->scratch, &ws->cap_scratch, ns) ||
        (ws->bf16 && grow(&ws->xb, &ws->cap_xb, (nq > nx ? nq : nx) / 2 + 1)) ||
        (ws->fp8 && grow(&ws->xb, &ws->cap_xb, lb_cpu_fp8_scratch_floats(T, (int)wide)))) {
        ws_release(ws); /* leave the workspace empty and consistent */
        return lb_err(err, LABSE_E_NOMEM,
                      "cpu forward: cannot allocate activations for %d tokens (lower the batch token budget, option batch_tokens)", T);
    }

    /* The OpenMP build of OpenBLAS sizes its GEMMs from this thread's OpenMP default, so the
     * thread count is set for the call and the caller's default restored at the end. */
    const int caller_threads = omp_get_max_threads();
    omp_set_num_threads(nt);
    openblas_set_num_threads(nt);

    /* embeddings: word + position (restarting per sequence) + type 0, then LayerNorm */
    float *x = ws->x;
#pragma omp parallel for schedule(dynamic, 4)
    for (int s = 0; s < b->n; s++)
        for (int t = b->cu_seqlens[s]; t < b->cu_seqlens[s + 1]; t++) {
            const float *w = m->word_emb + (size_t)b->ids[t] * H;
            const float *pe = m->pos_emb + (size_t)(t - b->cu_seqlens[s]) * H;
            float *r = x + (size_t)t * H;
            for (int i = 0; i < H; i++) r[i] = w[i] + pe[i] + m->type_emb[i];
        }
    add_layernorm(x, NULL, T, H, m->emb_ln_g, m->emb_ln_b, c->ln_eps);

    for (int l = 0; l < c->layers && st == LABSE_OK; l++) {
        const lb_layer *ly = &m->layer[l];
        if ((st = linear(ws, x, T, &ly->qkv, ws->qkv, LB_ACT_IDENTITY, err)) != LABSE_OK) break;
        attention(ws->qkv, ws->ctx, b, H, c->heads, Lmax, ws->scratch);
        if ((st = linear(ws, ws->ctx, T, &ly->attn_out, ws->tmp, LB_ACT_IDENTITY, err)) != LABSE_OK)
            break;
        add_layernorm(x, ws->tmp, T, H, ly->ln1_g, ly->ln1_b, c->ln_eps);
        const lb_act up_act = ws->fp8 ? lb_cpu_fp8_act(c->hidden_act) : c->hidden_act;
        if ((st = linear(ws, x, T, &ly->ffn_up, ws->qkv, up_act, err)) != LABSE_OK ||
            (st = linear(ws, ws->qkv, T, &ly->ffn_down, ws->tmp, LB_ACT_IDENTITY, err)) != LABSE_OK)
            break;
        add_layernorm(x, ws->tmp, T, H, ly->ln2_g, ly->ln2_b, c->ln_eps);
    }
    if (st != LABSE_OK) {
        omp_set_num_threads(caller_threads);
        return st;
    }
    if (hidden_out) memcpy(hidden_out, x, sizeof(float) * (size_t)T * H);

    /* pooling into ctx [n, H] */
    float *pool = ws->ctx, *tmp = ws->tmp;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < b->n; s++) {
        const int off = b->cu_seqlens[s], L = b->cu_seqlens[s + 1] - off;
        float *r = pool + (size_t)s * H;
        if (c->pooling == LABSE_POOL_CLS) {
            memcpy(r, x + (size_t)off * H, sizeof(float) * H);
        } else {
            for (int i = 0; i < H; i++) {
                double acc = 0;
                for (int t = 0; t < L; t++) acc += x[(size_t)(off + t) * H + i];
                r[i] = (float)(acc / L);
            }
        }
    }
    int n = H;
    for (int k = 0; k < m->n_dense; k++) {
        if ((st = linear(ws, pool, b->n, &m->dense[k].lin, tmp, m->dense[k].act, err)) != LABSE_OK) {
            omp_set_num_threads(caller_threads);
            return st;
        }
        float *sw = pool; pool = tmp; tmp = sw;
        n = m->dense[k].lin.out;
    }
    for (int s = 0; s < b->n; s++) {
        const float *r = pool + (size_t)s * n;
        float *o = out + (size_t)s * n;
        double norm = 1.0;
        if (c->normalize) {
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)r[i] * r[i];
            norm = sqrt(ss);
            if (norm < 1e-12) norm = 1e-12; /* torch.nn.functional.normalize's eps */
        }
        for (int i = 0; i < n; i++) o[i] = (float)(r[i] / norm);
    }
    omp_set_num_threads(caller_threads);
    return LABSE_OK;
}
