/* cpu_fp8.c — precision fp8-model: the GPU's fp8 arithmetic on the CPU (cpu_fp8.h). */
#include "cpu/cpu_fp8.h"

#include <math.h>
#include <stdlib.h>

#include <cblas.h>

#include "base/common.h"
#include "base/fp8.h"
#include "base/half.h"
#include "model/act_bound.h"

/* How a GEMM's input is quantised. */
enum { IN_TOKEN = 0, IN_CTX = 1, IN_BIG = 2 };

typedef struct fp8_lin {
    const lb_linear *lin; /* the fp32 linear it models (the lookup key) */
    float *w;             /* [out, in] E4M3 values of the codes (unscaled) */
    float *sw;            /* [out] per output channel */
    int input;            /* IN_* */
    float bound;          /* IN_CTX, IN_BIG: the static bound (act_bound.h) */
} fp8_lin;

struct lb_cpu_fp8 {
    int n;
    fp8_lin *lins;  /* [4 * layers] */
    float dec[256]; /* every E4M3 code's value (lb_e4m3_to_f32, tabled: it calls ldexpf) */
};

/* W's rows to codes (as float values, through the table dec) and scales: the GPU's rule
 * (lb_e4m3_quant_row, as gpu_model.c's put_fp8). */
static int quant_weight(const lb_linear *l, const float *dec, fp8_lin *q) {
    const size_t K = (size_t)l->in, N = (size_t)l->out;
    q->w = malloc(sizeof(float) * N * K);
    q->sw = malloc(sizeof(float) * N);
    uint8_t *codes = malloc(N * K);
    if (!q->w || !q->sw || !codes) {
        free(codes);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < N; r++) {
        q->sw[r] = lb_e4m3_quant_row(l->w + r * K, K, codes + r * K);
        for (size_t k = 0; k < K; k++) q->w[r * K + k] = dec[codes[r * K + k]];
    }
    free(codes);
    return 0;
}

void lb_cpu_fp8_free(lb_cpu_fp8 *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->lins[i].w);
        free(p->lins[i].sw);
    }
    free(p->lins);
    free(p);
}

labse_status lb_cpu_fp8_new(const lb_model *m, lb_cpu_fp8 **out, labse_error *err) {
    *out = NULL;
    lb_cpu_fp8 *p = calloc(1, sizeof *p);
    if (p) p->lins = calloc((size_t)m->cfg.layers * 4, sizeof *p->lins);
    if (!p || !p->lins) {
        free(p);
        return lb_err(err, LABSE_E_NOMEM, "precision fp8-model: out of memory");
    }
    for (int c = 0; c < 256; c++) p->dec[c] = lb_e4m3_to_f32((uint8_t)c);
    for (int l = 0; l < m->cfg.layers; l++) {
        float bctx, bbig;
        if (lb_act_bounds(m, l, &bctx, &bbig)) {
            lb_cpu_fp8_free(p);
            return lb_err(err, LABSE_E_INVALID,
                          "precision fp8-model: layer %d's weights give no finite activation "
                          "bound (inf/NaN or huge weights)", l);
        }
        const lb_layer *ly = &m->layer[l];
        const lb_linear *lins[4] = {&ly->qkv, &ly->attn_out, &ly->ffn_up, &ly->ffn_down};
        const int input[4] = {IN_TOKEN, IN_CTX, IN_TOKEN, IN_BIG};
        for (int k = 0; k < 4; k++) {
            fp8_lin *q = &p->lins[p->n++];
            q->lin = lins[k];
            q->input = input[k];
            q->bound = k == 1 ? bctx : bbig;
            if (quant_weight(lins[k], p->dec, q)) {
                lb_cpu_fp8_free(p);
                return lb_err(err, LABSE_E_NOMEM, "precision fp8-model: out of memory");
            }
        }
    }
    *out = p;
    return LABSE_OK;
}

lb_act lb_cpu_fp8_act(lb_act act) { return act == LB_ACT_GELU ? LB_ACT_GELU_TANH : act; }

size_t lb_cpu_fp8_scratch_floats(int T, int K) {
    const size_t n = (size_t)T * (size_t)K;
    return n + (size_t)T + (n * 3 + 3) / 4; /* xq, sx, then n fp16 and n codes in bytes */
}

/* The input's codes (as floats) into xq and per-token scales into sx, by q->input (cpu_fp8.h);
 * h [T, K] fp16 and c8 [T, K] codes are scratch. The per-token rows take the GPU's row rule
 * (lb_e4m3_quant_row). */
static void quant_input(const lb_cpu_fp8 *p, const fp8_lin *q, const float *x, int T, int K,
                        float *xq, float *sx, uint16_t *h, uint8_t *c8) {
    const int f16 = q->input != IN_BIG; /* the GELU output is converted from fp32 */
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *r = x + (size_t)t * K;
        float *o = xq + (size_t)t * K;
        uint8_t *c = c8 + (size_t)t * K;
        if (f16) { /* o holds the fp16-rounded row first */
            uint16_t *hr = h + (size_t)t * K;
            lb_f32_to_f16_array(r, hr, (size_t)K);
            for (int i = 0; i < K; i++) o[i] = lb_f16_to_f32(hr[i]);
            r = o;
        }
        if (q->input == IN_TOKEN) {
            sx[t] = lb_e4m3_quant_row(r, (size_t)K, c);
        } else {
            const float inv = LB_E4M3_MAX / q->bound;
            for (int i = 0; i < K; i++) c[i] = lb_f32_to_e4m3(r[i] * inv);
            sx[t] = q->bound / LB_E4M3_MAX;
        }
        for (int i = 0; i < K; i++) o[i] = p->dec[c[i]];
    }
}

int lb_cpu_fp8_gemm(const lb_cpu_fp8 *p, const lb_linear *lin, const float *x, int T,
                    float *scratch, float *y) {
    const fp8_lin *q = NULL;
    for (int i = 0; i < p->n && !q; i++)
        if (p->lins[i].lin == lin) q = &p->lins[i];
    if (!q) return 0;
    const int K = lin->in, N = lin->out;
    const size_t n = (size_t)T * (size_t)K;
    float *xq = scratch, *sx = scratch + n;
    uint16_t *h = (uint16_t *)(sx + T);
    uint8_t *c8 = (uint8_t *)(h + n);
    quant_input(p, q, x, T, K, xq, sx, h, c8);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, xq, K, q->w, K, 0.0f, y, N);
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *r = y + (size_t)t * N;
        for (int n = 0; n < N; n++) r[n] = r[n] * q->sw[n] * sx[t];
    }
    return 1;
}
