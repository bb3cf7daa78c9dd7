/* margin.h — margin scoring over k-NN tables (Artetxe & Schwenk 2019, "Margin-based Parallel
 * Corpus Mining with Multilingual Sentence Embeddings"), the four retrieval modes of the LASER
 * mining script, and the Tatoeba-style accuracies of `labse eval`.
 *
 * Definitions (x a source row, y a target row, cos on L2-normalised rows, NN_k from knn.h):
 *   mean_x = Σ_{z ∈ NN_k(x)} cos(x, z) / k        (forward table row x; summed in double in
 *   mean_y = Σ_{z ∈ NN_k(y)} cos(y, z) / k         table order, then divided by k)
 *   a = cos(x, y),   b = (mean_x + mean_y) / 2  =  Σ cos(x,z)/2k + Σ cos(y,z)/2k
 *   ratio: a / b        distance: a − b        absolute: a
 * All in double from the float32 cosines. (ratio with b <= 0 is a / b as written; b = 0 gives
 * ±inf or NaN; NaN scores rank last and never pass a threshold.)
 *
 * Best candidate. fwd_best(x) = the target among x's k forward neighbours with the highest
 * score; equal scores → the lower target index. bwd_best(y) likewise among y's k backward
 * neighbours (lower source index wins).
 *
 * Retrieval modes (as LASER's source/mine_bitexts.py; every source / target row takes part):
 *   forward    one pair (x, fwd_best(x)) per source row;
 *   backward   one pair (bwd_best(y), y) per target row;
 *   intersect  the forward pairs (x, y) with bwd_best(y) == x (found both ways);
 *   max        the forward and the backward pairs together, ranked by score descending (ties:
 *              source ascending, then target ascending); walked in that order, a pair is kept
 *              iff neither its source nor its target is in an earlier kept pair. So every
 *              source and every target appears at most once (a pair found both ways counts
 *              once), and a row keeps its higher-scoring pair.
 * Then the threshold keeps pairs with score >= T, and the result is sorted by score
 * descending, ties by (source, target) ascending.
 *
 * Thread-safety: reentrant. Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_MARGIN_H
#define LB_MARGIN_H

#include <stddef.h>
#include <stdint.h>

#include "mine/knn.h"
#include "labse.h"

typedef enum lb_margin { LB_MARGIN_RATIO = 0, LB_MARGIN_DISTANCE, LB_MARGIN_ABSOLUTE } lb_margin;

typedef enum lb_retrieval {
    LB_RETR_FORWARD = 0,
    LB_RETR_BACKWARD,
    LB_RETR_INTERSECT,
    LB_RETR_MAX
} lb_retrieval;

/* Parse "ratio" | "distance" | "absolute" / "forward" | "backward" | "intersect" | "max".
 * Return 1 on success, 0 for an unknown name. */
int lb_margin_parse(const char *s, lb_margin *m);
int lb_retrieval_parse(const char *s, lb_retrieval *r);
const char *lb_margin_name(lb_margin m);
const char *lb_retrieval_name(lb_retrieval r);

/* The margin of cosine a with neighbourhood means mean_x, mean_y (see above). */
double lb_margin_score(lb_margin m, float a, double mean_x, double mean_y);

/* means[r] = mean of the k cosines of table row r. Caller frees. NULL when out of memory. */
double *lb_topk_means(const lb_topk *t);

/*
 * For every row r of `t` (the forward or backward table), the best candidate by margin:
 *   best[r] (a row of the other side) and score[r] (either array may be NULL).
 * mean_self: means of t's rows; mean_other: means of the other table's rows.
 */
void lb_margin_best(const lb_topk *t, const double *mean_self, const double *mean_other,
                    lb_margin m, uint32_t *best, double *score);

typedef struct lb_pair {
    double score;
    uint32_t src, tgt;
} lb_pair;

/* 1 iff p ranks before q: higher score (NaN lowest), then lower src, then lower tgt. */
int lb_pair_before(const lb_pair *p, const lb_pair *q);

/*
 * Mine pairs from the two tables of lb_knn_run (fwd: src → tgt, bwd: tgt → src; same k).
 *   threshold  keep score >= threshold (-INFINITY keeps all).
 *   out, n     receive a malloc'ed array of n pairs in the final order (caller frees; NULL
 *              when n == 0).
 * Errors: LABSE_E_INVALID (tables inconsistent), LABSE_E_NOMEM.
 */
labse_status lb_mine_pairs(const lb_topk *fwd, const lb_topk *bwd, lb_margin m,
                           lb_retrieval r, double threshold, lb_pair **out, size_t *n,
                           labse_error *err);

/* Tatoeba-style accuracy for aligned corpora (row i of src translates row i of tgt): the
 * fraction of rows whose nearest candidate is its own translation, by cosine (the first
 * neighbour: highest cosine, lower index on ties) and by margin (fwd_best / bwd_best). */
typedef struct lb_eval_result {
    uint64_t n;
    double cos_fwd, cos_bwd;        /* src → tgt, tgt → src */
    double margin_fwd, margin_bwd;
} lb_eval_result;

/* fwd.rows must equal bwd.rows (LABSE_E_INVALID otherwise). */
labse_status lb_eval_accuracy(const lb_topk *fwd, const lb_topk *bwd, lb_margin m,
                              lb_eval_result *res, labse_error *err);

#endif
