/* labse.c — the public API (include/labse.h): thin wrappers over the engine
 * (engine/engine.h).
 *
 * labse_model is a handle around one lb_engine (model, device, GPU weights, run options); a
 * labse_session holds one backend made from it (lb_engine_backend, LB_BACKEND_SESSION: the
 * CPU forward with its own workspace, or one GPU context) and one thread's packing buffers.
 * labse_encode cuts windows and batches with the packer (pipeline/pack.h), as the streaming
 * pipeline does. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "engine/engine.h"
#include "pipeline/pack.h"

struct labse_model {
    lb_engine *e;
};

struct labse_session {
    const labse_model *model;
    lb_backend be;        /* the session's backend (owned) */
    /* one window of labse_encode: */
    int32_t *wids;        /* [cap_wids] ids of the window's texts, back to back */
    size_t *woff;         /* [cap_win] offset of text j's ids in wids */
    const int32_t **wptr; /* [cap_win] text j's ids (wids + woff[j]) once the window is done */
    int32_t *ntok;        /* [cap_win] ids per text */
    uint32_t *order;      /* [cap_win] texts sorted by length */
    size_t cap_wids, cap_win;
    /* one batch: */
    int32_t *ids;         /* [cap_ids] packed ids */
    int32_t *cu;          /* [cap_cu] offsets */
    float *rows;          /* [cap_rows] rows of the batch, in batch order */
    size_t cap_ids, cap_cu, cap_rows;
    labse_stats stats;
    labse_error err;      /* last error */
};

labse_options labse_default_options(void) {
    labse_options o;
    memset(&o, 0, sizeof o);
    o.device = LABSE_DEVICE_AUTO;
    o.cuda_device = 0;
    o.threads = 0;
    o.batch_tokens = 16384;
    o.max_length = 0;
    o.window = 32768;
    return o;
}

labse_status labse_model_load(const char *dir, const labse_options *opt, labse_model **out,
                              labse_error *err) {
    lb_err_clear(err);
    if (!dir || !out) return lb_err(err, LABSE_E_INVALID, "labse_model_load: NULL argument");
    labse_model *lm = calloc(1, sizeof *lm);
    if (!lm) return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    labse_status st = lb_engine_open(dir, opt, &lm->e, err);
    if (st != LABSE_OK) {
        free(lm);
        return st;
    }
    *out = lm;
    return LABSE_OK;
}

void labse_model_free(labse_model *m) {
    if (!m) return;
    lb_engine_free(m->e);
    free(m);
}

const lb_engine *lb_model_engine(const labse_model *m) { return m ? m->e : NULL; }

void labse_model_get_info(const labse_model *lm, labse_model_info *info) {
    if (!lm || !info) return;
    const lb_model *m = lb_engine_model(lm->e);
    const lb_config *c = &m->cfg;
    memset(info, 0, sizeof *info);
    info->layers = c->layers;
    info->hidden = c->hidden;
    info->heads = c->heads;
    info->intermediate = c->intermediate;
    info->vocab_size = c->vocab_size;
    info->max_position = c->max_position;
    info->max_length = lb_engine_max_length(lm->e);
    info->dim = c->dim;
    info->pooling = c->pooling;
    info->n_dense = m->n_dense;
    info->normalize = c->normalize;
    info->lowercase = c->lowercase;
    info->parameters = m->parameters;
    info->device = lb_engine_device(lm->e);
    snprintf(info->device_name, sizeof info->device_name, "%s", lb_engine_device_name(lm->e));
}

int labse_model_dim(const labse_model *lm) { return lm ? lb_engine_dim(lm->e) : 0; }

int labse_model_max_length(const labse_model *lm) { return lm ? lb_engine_max_length(lm->e) : 0; }

size_t labse_tokenize(const labse_model *lm, const char *text, size_t len, int32_t *ids,
                      labse_tok_info *info, labse_error *err) {
    if (!lm || !ids || (!text && len)) {
        lb_err(err, LABSE_E_INVALID, "labse_tokenize: NULL argument");
        return 0;
    }
    size_t n = lb_engine_tokenize(lm->e, text, len, ids, info);
    if (n == 0) lb_err(err, LABSE_E_NOMEM, "labse_tokenize: out of memory");
    return n;
}

labse_status labse_session_new(const labse_model *lm, labse_session **out, labse_error *err) {
    lb_err_clear(err);
    if (!lm || !out) return lb_err(err, LABSE_E_INVALID, "labse_session_new: NULL argument");
    labse_session *s = calloc(1, sizeof *s);
    if (!s) return lb_err(err, LABSE_E_NOMEM, "labse_session_new: out of memory");
    s->model = lm;
    labse_status st = lb_engine_backend(lm->e, LB_BACKEND_SESSION, &s->be, err);
    if (st != LABSE_OK) {
        free(s);
        return st;
    }
    *out = s;
    return LABSE_OK;
}

void labse_session_free(labse_session *s) {
    if (!s) return;
    if (s->be.destroy) s->be.destroy(s->be.ctx);
    free(s->wids);
    free(s->woff);
    free(s->wptr);
    free(s->ntok);
    free(s->order);
    free(s->ids);
    free(s->cu);
    free(s->rows);
    free(s);
}

const char *labse_session_errmsg(const labse_session *s) { return s ? s->err.message : ""; }

void labse_session_stats(const labse_session *s, labse_stats *st) {
    if (s && st) *st = s->stats;
}

/* One packed batch on the session's backend: rows → out [n, dim]. */
static labse_status forward(labse_session *s, const int32_t *ids, const int32_t *cu, size_t n,
                            float *out, labse_error *e) {
    return s->be.encode(s->be.ctx, ids, cu, (int)n, out, e);
}

/* Record err as the session's last error and copy it to the caller's. */
static labse_status fail(labse_session *s, labse_error *err, const labse_error *e) {
    s->err = *e;
    if (err) *err = *e;
    return e->status;
}

/* Grow *p (elements of size es) to at least n elements; 0 or -1. Contents are kept. */
static int grow(void **p, size_t *cap, size_t n, size_t es) {
    if (n <= *cap) return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < n) c *= 2;
    void *q = realloc(*p, c * es);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}
#define GROW(p, cap, n) grow((void **)&(p), &(cap), (n), sizeof *(p))

/* Encode one window texts[0..n) into out[n * dim]: tokenise, then order, cut and pack batches
 * with the packer (pack.h) exactly as the streaming pipeline does, so that `labse encode` and
 * labse_encode give the same batches — hence the same bytes. */
static labse_status encode_window(labse_session *s, const char *const *texts, const size_t *lens,
                                  size_t n, float *out, labse_error *e) {
    const lb_engine *en = s->model->e;
    const int max_len = lb_engine_max_length(en);
    const size_t maxlen = (size_t)max_len, dim = (size_t)lb_engine_dim(en);
    if (n > s->cap_win) { /* woff, wptr, ntok and order share cap_win */
        size_t *wo = realloc(s->woff, n * sizeof *wo);
        if (wo) s->woff = wo;
        const int32_t **wp = wo ? realloc(s->wptr, n * sizeof *wp) : NULL;
        if (wp) s->wptr = wp;
        int32_t *nt = wp ? realloc(s->ntok, n * sizeof *nt) : NULL;
        if (nt) s->ntok = nt;
        uint32_t *od = nt ? realloc(s->order, n * sizeof *od) : NULL;
        if (!od) return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory");
        s->order = od;
        s->cap_win = n;
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (GROW(s->wids, s->cap_wids, used + maxlen))
            return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory for token ids");
        labse_tok_info info;
        const char *t = texts[i] ? texts[i] : "";
        size_t len = lens ? lens[i] : strlen(t);
        size_t k = lb_engine_tokenize(en, t, len, s->wids + used, &info);
        if (k == 0) return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory (tokenizer)");
        s->woff[i] = used;
        s->ntok[i] = (int32_t)k;
        used += k;
        s->stats.truncated += info.truncated != 0;
        s->stats.repaired += info.repaired != 0;
    }
    for (size_t i = 0; i < n; i++) s->wptr[i] = s->wids + s->woff[i];
    if (lb_bucket_order(s->ntok, n, max_len, s->order) != 0)
        return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory");
    const lb_pack_budget budget = lb_pack_budget_of(lb_engine_options(en)->batch_tokens, max_len);
    for (size_t at = 0; at < n;) {
        size_t nb = lb_pack_next(s->ntok, s->order, at, n, budget, n);
        size_t tok = 0;
        for (size_t q = 0; q < nb; q++) tok += (size_t)s->ntok[s->order[at + q]];
        if (GROW(s->ids, s->cap_ids, tok) || GROW(s->cu, s->cap_cu, nb + 1) ||
            GROW(s->rows, s->cap_rows, nb * dim))
            return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory for a batch");
        lb_pack_ids(s->wptr, s->ntok, s->order + at, nb, s->ids, s->cu);
        labse_status st = forward(s, s->ids, s->cu, nb, s->rows, e);
        if (st != LABSE_OK) return st;
        for (size_t q = 0; q < nb; q++)
            memcpy(out + (size_t)s->order[at + q] * dim, s->rows + q * dim, dim * sizeof *out);
        s->stats.batches++;
        s->stats.tokens += tok;
        at += nb;
    }
    s->stats.texts += n;
    return LABSE_OK;
}

labse_status labse_encode(labse_session *s, const char *const *texts, const size_t *lens,
                          size_t n, float *out, labse_error *err) {
    labse_error e;
    lb_err_clear(&e);
    lb_err_clear(err);
    if (!s) return lb_err(err, LABSE_E_INVALID, "labse_encode: NULL session");
    if (n == 0) return LABSE_OK;
    if (!texts || !out) {
        lb_err(&e, LABSE_E_INVALID, "labse_encode: NULL texts or output");
        return fail(s, err, &e);
    }
    for (size_t i = 0; i < n; i++)
        if (!texts[i] && lens && lens[i]) {
            lb_err(&e, LABSE_E_INVALID, "labse_encode: text %zu is NULL with length %zu", i, lens[i]);
            return fail(s, err, &e);
        }
    /* Windows as the pipeline cuts them (pack.h): at most opt.window texts from the window's
     * first text, and at most the pipeline's default window_bytes of text. */
    const size_t W = (size_t)lb_engine_options(s->model->e)->window;
    const size_t dim = (size_t)lb_engine_dim(s->model->e);
    for (size_t first = 0; first < n;) {
        size_t k = lb_window_cut(texts + first, lens ? lens + first : NULL, n - first, W,
                                 LB_WINDOW_BYTES);
        labse_status st = encode_window(s, texts + first, lens ? lens + first : NULL, k,
                                        out + first * dim, &e);
        if (st != LABSE_OK) return fail(s, err, &e);
        first += k;
    }
    return LABSE_OK;
}

labse_status labse_encode_ids(labse_session *s, const int32_t *ids, const int32_t *cu_seqlens,
                              size_t n, float *out, labse_error *err) {
    labse_error e;
    lb_err_clear(&e);
    lb_err_clear(err);
    if (!s) return lb_err(err, LABSE_E_INVALID, "labse_encode_ids: NULL session");
    if (n == 0) return LABSE_OK;
    if (n > (size_t)INT32_MAX) {
        lb_err(&e, LABSE_E_INVALID, "labse_encode_ids: too many sequences (%zu)", n);
        return fail(s, err, &e);
    }
    labse_status st = forward(s, ids, cu_seqlens, n, out, &e);
    if (st != LABSE_OK) return fail(s, err, &e);
    s->stats.batches++;
    s->stats.texts += n;
    s->stats.tokens += (uint64_t)cu_seqlens[n];
    return LABSE_OK;
}
