/* api_mine.c — the public embedding matrices (labse_embeddings over lb_emb, mine/mine_emb.h)
 * and mining / evaluation over them (mine/knn.h + mine/margin.h): the engines of `labse mine`
 * and `labse eval`, without printing; labse_mine is labse_mine_embeddings over two arrays. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"
#include "pipeline/pipeline.h"

struct labse_embeddings {
    lb_emb *e;
};

/* the public enums have the internal values */
_Static_assert((int)LABSE_MARGIN_RATIO == (int)LB_MARGIN_RATIO &&
                   (int)LABSE_MARGIN_DISTANCE == (int)LB_MARGIN_DISTANCE &&
                   (int)LABSE_MARGIN_ABSOLUTE == (int)LB_MARGIN_ABSOLUTE &&
                   (int)LABSE_RETRIEVAL_FORWARD == (int)LB_RETR_FORWARD &&
                   (int)LABSE_RETRIEVAL_BACKWARD == (int)LB_RETR_BACKWARD &&
                   (int)LABSE_RETRIEVAL_INTERSECT == (int)LB_RETR_INTERSECT &&
                   (int)LABSE_RETRIEVAL_MAX == (int)LB_RETR_MAX,
               "labse_margin/labse_retrieval mirror lb_margin/lb_retrieval");

int labse_margin_parse(const char *name, labse_margin *out) {
    lb_margin m;
    if (!name || !out || !lb_margin_parse(name, &m)) return 0;
    *out = (labse_margin)m;
    return 1;
}

int labse_retrieval_parse(const char *name, labse_retrieval *out) {
    lb_retrieval r;
    if (!name || !out || !lb_retrieval_parse(name, &r)) return 0;
    *out = (labse_retrieval)r;
    return 1;
}

const char *labse_margin_name(labse_margin m) {
    return (unsigned)m <= LABSE_MARGIN_ABSOLUTE ? lb_margin_name((lb_margin)m) : "?";
}

const char *labse_retrieval_name(labse_retrieval r) {
    return (unsigned)r <= LABSE_RETRIEVAL_MAX ? lb_retrieval_name((lb_retrieval)r) : "?";
}

/* ==========================================================================================
 * Matrices
 * ========================================================================================== */

/* Box e into a new handle; frees e when that fails. */
static labse_status boxed(lb_emb *e, labse_embeddings **out, labse_error *err) {
    labse_embeddings *h = malloc(sizeof *h);
    if (!h) {
        lb_emb_free(e);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    h->e = e;
    *out = h;
    return LABSE_OK;
}

labse_status labse_embeddings_open(const char *path, labse_embeddings **out, labse_error *err) {
    lb_err_clear(err);
    if (!path || !out) return lb_err(err, LABSE_E_INVALID, "labse_embeddings_open: NULL argument");
    lb_emb *e = NULL;
    labse_status s;
    if (lb_files_is_output(path)) { /* a many-files output: its folders in list order */
        char **dirs = NULL;
        size_t n = 0;
        uint64_t rows = 0;
        s = lb_files_collect(path, 0, &dirs, &n, &rows, err);
        if (s == LABSE_OK && n == 0)
            s = lb_err(err, LABSE_E_FORMAT, "%s: no rows (every input is empty)", path);
        if (s == LABSE_OK) s = lb_emb_open_folders(path, (const char *const *)dirs, n, &e, err);
        for (size_t i = 0; i < n; i++) free(dirs[i]);
        free(dirs);
    } else {
        s = lb_emb_open(path, &e, err);
    }
    if (s != LABSE_OK) return s;
    return boxed(e, out, err);
}

labse_status labse_embeddings_wrap(const float *data, uint64_t rows, size_t dim,
                                   const char *name, labse_embeddings **out, labse_error *err) {
    lb_err_clear(err);
    if (!out || (!data && rows) || dim == 0)
        return lb_err(err, LABSE_E_INVALID,
                      "labse_embeddings_wrap: NULL argument or dim 0");
    lb_emb *e = NULL;
    /* never written through: lb_emb is read-only, and take_ownership = 0 */
    labse_status s =
        lb_emb_wrap((float *)data, rows, dim, 0, name ? name : "embeddings", &e, err);
    if (s != LABSE_OK) return s;
    return boxed(e, out, err);
}

labse_status labse_embeddings_encode(labse_session *s, const labse_model *m,
                                     const char *const *texts, const size_t *lens, size_t n,
                                     const char *name, labse_embeddings **out, labse_error *err) {
    lb_err_clear(err);
    if (!s || !m || !out || (!texts && n))
        return lb_err(err, LABSE_E_INVALID, "labse_embeddings_encode: NULL argument");
    if (!name) name = "texts";
    if ((uint64_t)n > LB_EMB_MAX_ROWS)
        return lb_err(err, LABSE_E_INVALID, "%s: too many lines", name);
    lb_line *lines = n ? malloc(n * sizeof *lines) : NULL;
    if (n && !lines)
        return lb_err(err, LABSE_E_NOMEM, "%s: out of memory for %zu lines", name, n);
    for (size_t i = 0; i < n; i++) {
        lines[i].ptr = texts[i];
        lines[i].len = lens ? lens[i] : strlen(texts[i]);
    }
    lb_emb *e = NULL;
    labse_status st =
        lb_emb_encode_lines(s, (size_t)labse_model_dim(m), lines, n, name, &e, err);
    free(lines);
    if (st != LABSE_OK) return st;
    return boxed(e, out, err);
}

void labse_embeddings_free(labse_embeddings *e) {
    if (!e) return;
    lb_emb_free(e->e);
    free(e);
}

labse_status labse_embeddings_read(const labse_embeddings *e, uint64_t row0, size_t n,
                                   float *out, labse_error *err) {
    lb_err_clear(err);
    if (!e || (!out && n))
        return lb_err(err, LABSE_E_INVALID, "labse_embeddings_read: NULL argument");
    uint64_t rows = lb_emb_rows(e->e);
    if (row0 > rows || (uint64_t)n > rows - row0)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: rows %" PRIu64 "..+%zu outside the %" PRIu64 " rows",
                      lb_emb_name(e->e), row0, n, rows);
    if (n) lb_emb_read(e->e, row0, n, out);
    return LABSE_OK;
}

uint64_t labse_embeddings_rows(const labse_embeddings *e) { return e ? lb_emb_rows(e->e) : 0; }
size_t labse_embeddings_dim(const labse_embeddings *e) { return e ? lb_emb_dim(e->e) : 0; }
const char *labse_embeddings_name(const labse_embeddings *e) {
    const char *n = e ? lb_emb_name(e->e) : NULL;
    return n ? n : "";
}

/* ==========================================================================================
 * k-NN, mining, evaluation
 * ========================================================================================== */

/* Check the options (as labse_mine does) and run the k-NN both ways on the chosen device.
 * LABSE_DEVICE_AUTO never fails for a k the GPU search does not take (k > 64 after lowering
 * to the corpus size): that search runs on the CPU. */
static labse_status knn(const char *fn, const labse_embeddings *src, const labse_embeddings *tgt,
                        const labse_mine_options *o, int *k_used, lb_topk *fwd, lb_topk *bwd,
                        labse_error *err) {
    if (o->k < 1 || o->k > (1 << 20))
        return lb_err(err, LABSE_E_INVALID, "%s: k = %d not in 1..1048576", fn, o->k);
    if (o->block_rows < 1 || o->block_rows > ((size_t)1 << 20))
        return lb_err(err, LABSE_E_INVALID, "%s: block_rows %zu not in 1..1048576", fn,
                      o->block_rows);
    if (o->threads < 0)
        return lb_err(err, LABSE_E_INVALID, "%s: threads = %d must be >= 0", fn, o->threads);
    if ((unsigned)o->margin > LABSE_MARGIN_ABSOLUTE)
        return lb_err(err, LABSE_E_INVALID, "%s: unknown margin %d", fn, (int)o->margin);
    const lb_knn_backend *be = NULL;
    labse_status s = lb_knn_backend_select(o->device, o->cuda_device, &be, err);
    if (s != LABSE_OK) return s;
    uint64_t ns = lb_emb_rows(src->e), nt = lb_emb_rows(tgt->e);
    uint64_t k_eff = (uint64_t)o->k;
    if (ns < k_eff) k_eff = ns;
    if (nt < k_eff) k_eff = nt;
    if (o->device == LABSE_DEVICE_AUTO && be != lb_knn_backend_cpu() && k_eff > 64)
        be = lb_knn_backend_cpu();
    return lb_knn_mine_run_on(be, src->e, tgt->e, o->k, o->block_rows, o->threads, k_used, fwd,
                              bwd, err);
}

labse_status labse_mine_embeddings(const labse_embeddings *src, const labse_embeddings *tgt,
                                   const labse_mine_options *opt, labse_pair **pairs,
                                   size_t *n_pairs, int *k_used, labse_error *err) {
    lb_err_clear(err);
    if (!src || !tgt || !pairs || !n_pairs)
        return lb_err(err, LABSE_E_INVALID, "labse_mine_embeddings: NULL argument");
    labse_mine_options o = opt ? *opt : labse_default_mine_options();
    if ((unsigned)o.retrieval > LABSE_RETRIEVAL_MAX)
        return lb_err(err, LABSE_E_INVALID, "labse_mine_embeddings: unknown retrieval %d",
                      (int)o.retrieval);
    lb_topk fwd = {0}, bwd = {0};
    lb_pair *lp = NULL;
    size_t n = 0;
    labse_pair *out = NULL;
    int ku = 0;
    labse_status s = knn("labse_mine_embeddings", src, tgt, &o, &ku, &fwd, &bwd, err);
    if (s == LABSE_OK)
        s = lb_mine_pairs(&fwd, &bwd, (lb_margin)o.margin, (lb_retrieval)o.retrieval,
                          isnan(o.threshold) ? -INFINITY : o.threshold, &lp, &n, err);
    if (s == LABSE_OK && n) {
        out = malloc(n * sizeof *out);
        if (!out)
            s = lb_err(err, LABSE_E_NOMEM, "labse_mine_embeddings: out of memory (%zu pairs)", n);
        for (size_t i = 0; out && i < n; i++) {
            out[i].score = lp[i].score;
            out[i].src = lp[i].src;
            out[i].tgt = lp[i].tgt;
        }
    }
    free(lp);
    lb_topk_free(&fwd);
    lb_topk_free(&bwd);
    if (s != LABSE_OK) return s;
    *pairs = out;
    *n_pairs = n;
    if (k_used) *k_used = ku;
    return LABSE_OK;
}

labse_status labse_eval_embeddings(const labse_embeddings *src, const labse_embeddings *tgt,
                                   const labse_mine_options *opt, labse_eval_result *res,
                                   int *k_used, labse_error *err) {
    lb_err_clear(err);
    if (!src || !tgt || !res)
        return lb_err(err, LABSE_E_INVALID, "labse_eval_embeddings: NULL argument");
    labse_mine_options o = opt ? *opt : labse_default_mine_options();
    if (lb_emb_rows(src->e) != lb_emb_rows(tgt->e))
        return lb_err(err, LABSE_E_INVALID,
                      "%s has %" PRIu64 " rows but %s has %" PRIu64
                      " (eval needs aligned pairs: row i translates row i)",
                      lb_emb_name(src->e), lb_emb_rows(src->e), lb_emb_name(tgt->e),
                      lb_emb_rows(tgt->e));
    lb_topk fwd = {0}, bwd = {0};
    int ku = 0;
    lb_eval_result r;
    memset(&r, 0, sizeof r);
    labse_status s = knn("labse_eval_embeddings", src, tgt, &o, &ku, &fwd, &bwd, err);
    if (s == LABSE_OK) s = lb_eval_accuracy(&fwd, &bwd, (lb_margin)o.margin, &r, err);
    lb_topk_free(&fwd);
    lb_topk_free(&bwd);
    if (s != LABSE_OK) return s;
    res->n = r.n;
    res->cos_src2tgt = r.cos_fwd;
    res->cos_tgt2src = r.cos_bwd;
    res->margin_src2tgt = r.margin_fwd;
    res->margin_tgt2src = r.margin_bwd;
    if (k_used) *k_used = ku;
    return LABSE_OK;
}

labse_mine_options labse_default_mine_options(void) {
    labse_mine_options o;
    memset(&o, 0, sizeof o);
    o.k = 4;
    o.margin = LABSE_MARGIN_RATIO;
    o.retrieval = LABSE_RETRIEVAL_MAX;
    o.threshold = NAN;
    o.threads = 0;
    o.block_rows = 2048;
    o.device = LABSE_DEVICE_CPU;
    o.cuda_device = 0;
    return o;
}

/* labse_mine is labse_mine_embeddings (above) over two wrapped arrays: one engine,
 * one check of the options. The function name in messages is the one the caller called. */
labse_status labse_mine(const float *src, size_t ns, const float *tgt, size_t nt, size_t dim,
                        const labse_mine_options *opt, labse_pair **pairs, size_t *n_pairs,
                        labse_error *err) {
    lb_err_clear(err);
    if (!src || !tgt || !pairs || !n_pairs)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: NULL argument");
    if (ns == 0 || nt == 0)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: %s has no rows (an empty corpus has "
                      "nothing to mine)", ns == 0 ? "src" : "tgt");
    if (dim == 0) return lb_err(err, LABSE_E_INVALID, "labse_mine: dim is 0");
    if ((uint64_t)ns > LB_EMB_MAX_ROWS || (uint64_t)nt > LB_EMB_MAX_ROWS)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: more than %" PRIu64 " rows",
                      (uint64_t)LB_EMB_MAX_ROWS);
    labse_embeddings *a = NULL, *b = NULL;
    labse_status s = labse_embeddings_wrap(src, ns, dim, "src", &a, err);
    if (s == LABSE_OK) s = labse_embeddings_wrap(tgt, nt, dim, "tgt", &b, err);
    if (s == LABSE_OK) s = labse_mine_embeddings(a, b, opt, pairs, n_pairs, NULL, err);
    labse_embeddings_free(a);
    labse_embeddings_free(b);
    return s;
}
