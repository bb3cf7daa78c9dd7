/* act_bound.c — provable activation bounds for precision fp8's static scales (act_bound.h). */
#include <math.h>
#include <stdlib.h>

#include "model/act_bound.h"

/* max over output rows r in [r0, r0 + n) of sum_i |W[r, i]| xb[i] + |b[r]| (in double). */
static double linear_bound(const lb_linear *lin, int r0, int n, const double *xb) {
    double best = 0.0;
    for (int r = r0; r < r0 + n; r++) {
        const float *w = lin->w + (size_t)r * lin->in;
        double s = lin->b ? fabs((double)lin->b[r]) : 0.0;
        for (int i = 0; i < lin->in; i++) s += fabs((double)w[i]) * xb[i];
        if (!(s <= best)) best = s; /* NaN propagates: !(NaN <= x) */
    }
    return best;
}

/* |LayerNorm output_i| <= |gamma_i| sqrt(H - 1) + |beta_i|. */
static void ln_bound(const float *g, const float *b, int H, double *xb) {
    const double r = sqrt((double)(H > 1 ? H - 1 : 1));
    for (int i = 0; i < H; i++) xb[i] = fabs((double)g[i]) * r + fabs((double)b[i]);
}

int lb_act_bounds(const lb_model *m, int l, float *ctx, float *big) {
    const int H = m->cfg.hidden;
    double *xb = malloc(sizeof(double) * (size_t)H);
    if (!xb) return -1;
    const lb_layer *ly = &m->layer[l];
    if (l == 0) ln_bound(m->emb_ln_g, m->emb_ln_b, H, xb);
    else ln_bound(m->layer[l - 1].ln2_g, m->layer[l - 1].ln2_b, H, xb);
    const double v = linear_bound(&ly->qkv, 2 * H, H, xb); /* the V rows of the fused weight */
    ln_bound(ly->ln1_g, ly->ln1_b, H, xb);
    double u = linear_bound(&ly->ffn_up, 0, ly->ffn_up.out, xb);
    free(xb);
    if (u < 1.0) u = 1.0;
    const double c = (v > 1e-20 ? v : 1e-20) * LB_ACT_BOUND_MARGIN, f = u * LB_ACT_BOUND_MARGIN;
    if (!(c < 3.0e38 && f < 3.0e38)) return -1; /* also NaN */
    *ctx = (float)c;
    *big = (float)f;
    return 0;
}
