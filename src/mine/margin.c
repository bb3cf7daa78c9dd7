/* margin.c — margin scores, retrieval modes, eval accuracies. See margin.h. */
#include "mine/margin.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"

/* ==========================================================================================
 * Names
 * ========================================================================================== */

static const char *const MARGIN_NAMES[] = {"ratio", "distance", "absolute"};
static const char *const RETR_NAMES[] = {"forward", "backward", "intersect", "max"};

int lb_margin_parse(const char *s, lb_margin *m) {
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, MARGIN_NAMES[i]) == 0) {
            *m = (lb_margin)i;
            return 1;
        }
    return 0;
}

int lb_retrieval_parse(const char *s, lb_retrieval *r) {
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, RETR_NAMES[i]) == 0) {
            *r = (lb_retrieval)i;
            return 1;
        }
    return 0;
}

const char *lb_margin_name(lb_margin m) { return (unsigned)m < 3 ? MARGIN_NAMES[m] : "?"; }
const char *lb_retrieval_name(lb_retrieval r) { return (unsigned)r < 4 ? RETR_NAMES[r] : "?"; }

/* ==========================================================================================
 * Scores
 * ========================================================================================== */

double lb_margin_score(lb_margin m, float a, double mean_x, double mean_y) {
    const double b = (mean_x + mean_y) / 2.0;
    switch (m) {
    case LB_MARGIN_RATIO: return (double)a / b;
    case LB_MARGIN_DISTANCE: return (double)a - b;
    case LB_MARGIN_ABSOLUTE: return (double)a;
    }
    return NAN;
}

double *lb_topk_means(const lb_topk *t) {
    double *m = malloc((t->rows ? t->rows : 1) * sizeof *m);
    if (!m) return NULL;
    const int k = t->k;
    for (uint64_t r = 0; r < t->rows; r++) {
        double s = 0;
        for (int j = 0; j < k; j++) s += (double)t->sim[r * k + j];
        m[r] = s / k;
    }
    return m;
}

/* Score a ranks before score b (NaN lowest). */
static int score_gt(double a, double b) {
    if (isnan(b)) return !isnan(a);
    return a > b;
}

void lb_margin_best(const lb_topk *t, const double *mean_self, const double *mean_other,
                    lb_margin m, uint32_t *best, double *score) {
    const int k = t->k;
    for (uint64_t r = 0; r < t->rows; r++) {
        uint32_t bi = LB_KNN_EMPTY;
        double bs = NAN;
        for (int j = 0; j < k; j++) {
            const uint32_t c = t->idx[r * k + j];
            const double s = lb_margin_score(m, t->sim[r * k + j], mean_self[r], mean_other[c]);
            if (bi == LB_KNN_EMPTY || score_gt(s, bs) || (!score_gt(bs, s) && c < bi)) {
                bi = c;
                bs = s;
            }
        }
        if (best) best[r] = bi;
        if (score) score[r] = bs;
    }
}

/* ==========================================================================================
 * Mining
 * ========================================================================================== */

int lb_pair_before(const lb_pair *p, const lb_pair *q) {
    if (score_gt(p->score, q->score)) return 1;
    if (score_gt(q->score, p->score)) return 0;
    if (p->src != q->src) return p->src < q->src;
    return p->tgt < q->tgt;
}

static int pair_cmp(const void *a, const void *b) {
    const lb_pair *p = a, *q = b;
    return lb_pair_before(p, q) ? -1 : lb_pair_before(q, p) ? 1 : 0;
}

labse_status lb_mine_pairs(const lb_topk *fwd, const lb_topk *bwd, lb_margin m,
                           lb_retrieval r, double threshold, lb_pair **out, size_t *n,
                           labse_error *err) {
    if (!fwd || !bwd || !out || !n || fwd->k != bwd->k || fwd->k < 1)
        return lb_err(err, LABSE_E_INVALID, "lb_mine_pairs: bad tables");
    *out = NULL;
    *n = 0;
    const uint64_t ns = fwd->rows, nt = bwd->rows;
    labse_status st = LABSE_OK;
    double *mf = lb_topk_means(fwd), *mb = lb_topk_means(bwd);
    uint32_t *fb = malloc((ns ? ns : 1) * sizeof *fb), *bb = malloc((nt ? nt : 1) * sizeof *bb);
    double *fsc = malloc((ns ? ns : 1) * sizeof *fsc), *bsc = malloc((nt ? nt : 1) * sizeof *bsc);
    lb_pair *pairs = malloc((ns + nt ? ns + nt : 1) * sizeof *pairs);
    unsigned char *used_s = NULL, *used_t = NULL;
    if (!mf || !mb || !fb || !bb || !fsc || !bsc || !pairs) goto nomem;
    lb_margin_best(fwd, mf, mb, m, fb, fsc);
    lb_margin_best(bwd, mb, mf, m, bb, bsc);

    size_t np = 0;
    if (r == LB_RETR_FORWARD || r == LB_RETR_INTERSECT || r == LB_RETR_MAX)
        for (uint64_t i = 0; i < ns; i++) {
            if (r == LB_RETR_INTERSECT && bb[fb[i]] != (uint32_t)i) continue;
            pairs[np++] = (lb_pair){fsc[i], (uint32_t)i, fb[i]};
        }
    if (r == LB_RETR_BACKWARD || r == LB_RETR_MAX)
        for (uint64_t j = 0; j < nt; j++) pairs[np++] = (lb_pair){bsc[j], bb[j], (uint32_t)j};
    qsort(pairs, np, sizeof *pairs, pair_cmp);
    if (r == LB_RETR_MAX) {
        used_s = calloc(ns ? ns : 1, 1);
        used_t = calloc(nt ? nt : 1, 1);
        if (!used_s || !used_t) goto nomem;
        size_t w = 0;
        for (size_t i = 0; i < np; i++) {
            if (used_s[pairs[i].src] || used_t[pairs[i].tgt]) continue;
            used_s[pairs[i].src] = used_t[pairs[i].tgt] = 1;
            pairs[w++] = pairs[i];
        }
        np = w;
    }
    /* Sorted: the pairs passing the threshold are a prefix (NaN ranks last and fails). */
    size_t keep = 0;
    while (keep < np && pairs[keep].score >= threshold) keep++;
    if (keep == 0) {
        free(pairs);
        pairs = NULL;
    }
    *out = pairs;
    *n = keep;
    pairs = NULL;
    goto done;
nomem:
    st = lb_err(err, LABSE_E_NOMEM, "out of memory while scoring %" PRIu64 " x %" PRIu64
                " candidates", (uint64_t)ns, (uint64_t)nt);
done:
    free(pairs);
    free(used_s);
    free(used_t);
    free(mf);
    free(mb);
    free(fb);
    free(bb);
    free(fsc);
    free(bsc);
    return st;
}

/* ==========================================================================================
 * Evaluation
 * ========================================================================================== */

labse_status lb_eval_accuracy(const lb_topk *fwd, const lb_topk *bwd, lb_margin m,
                              lb_eval_result *res, labse_error *err) {
    if (!fwd || !bwd || !res || fwd->rows != bwd->rows || fwd->k != bwd->k || fwd->rows == 0)
        return lb_err(err, LABSE_E_INVALID,
                      "eval: the two sides must have the same number of rows (line i of one "
                      "translates line i of the other)");
    const uint64_t n = fwd->rows;
    const int k = fwd->k;
    double *mf = lb_topk_means(fwd), *mb = lb_topk_means(bwd);
    uint32_t *fb = malloc(n * sizeof *fb), *bb = malloc(n * sizeof *bb);
    labse_status st = LABSE_OK;
    if (!mf || !mb || !fb || !bb) {
        st = lb_err(err, LABSE_E_NOMEM, "eval: out of memory");
        goto done;
    }
    lb_margin_best(fwd, mf, mb, m, fb, NULL);
    lb_margin_best(bwd, mb, mf, m, bb, NULL);
    uint64_t cf = 0, cb = 0, mfw = 0, mbw = 0;
    for (uint64_t i = 0; i < n; i++) {
        cf += fwd->idx[i * k] == (uint32_t)i;
        cb += bwd->idx[i * k] == (uint32_t)i;
        mfw += fb[i] == (uint32_t)i;
        mbw += bb[i] == (uint32_t)i;
    }
    res->n = n;
    res->cos_fwd = (double)cf / (double)n;
    res->cos_bwd = (double)cb / (double)n;
    res->margin_fwd = (double)mfw / (double)n;
    res->margin_bwd = (double)mbw / (double)n;
done:
    free(mf);
    free(mb);
    free(fb);
    free(bb);
    return st;
}
