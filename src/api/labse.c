/* labse.c — the public API (include/labse.h): thin wrappers over the engine
 * (engine/engine.h).
 *
 * labse_model is a handle around one lb_engine (model, device, GPU weights, run options); a
 * labse_session holds one backend made from it (lb_engine_backend, LB_BACKEND_SESSION: the
 * CPU forward with its own workspace, or one GPU context) and one thread's packing buffers.
 * labse_encode cuts windows and batches with the packer (pipeline/pack.h), as the streaming
 * pipeline does, and keeps the backend's depth of batches in flight (2 on a GPU) in a ring of
 * the backend's host buffers, as the pipeline's scheduler does ("labse_encode: windows,
 * batches, a ring of batches in flight" below). */
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

/* One batch of labse_encode in flight (or idle): its packed ids, cu_seqlens and rows in the
 * backend's host buffers (pinned on the GPU), and where its rows go in the caller's out. */
typedef struct ring_slot {
    int32_t *ids;  /* [cap_tok] */
    int32_t *cu;   /* [cap_seq + 1] */
    float *rows;   /* [cap_seq * dim] rows of the batch, in batch order */
    size_t *dst;   /* [cap_seq] row q goes to out row dst[q] (index into the call's texts) */
    size_t cap_tok, cap_seq;
    size_t n, tok; /* sequences and tokens of the batch */
    int busy;      /* submitted, not yet waited */
} ring_slot;

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
    /* labse_encode's ring of batches in flight: slot k holds batch j with j % depth == k */
    ring_slot ring[LB_BACKEND_MAX_DEPTH];
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
    o.precision = LABSE_PRECISION_DEFAULT;
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

lb_backend *lb_session_backend(labse_session *s) { return s ? &s->be : NULL; }

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

static void ring_free(labse_session *s);

void labse_session_free(labse_session *s) {
    if (!s) return;
    free(s->wids);
    free(s->woff);
    free(s->wptr);
    free(s->ntok);
    free(s->order);
    if (s->be.destroy) {
        ring_free(s);
        s->be.destroy(s->be.ctx);
    }
    free(s);
}

const char *labse_session_errmsg(const labse_session *s) { return s ? s->err.message : ""; }

void labse_session_stats(const labse_session *s, labse_stats *st) {
    if (!s || !st) return;
    *st = s->stats;
    if (s->be.mem) {
        lb_backend_mem m;
        s->be.mem(s->be.ctx, &m);
        st->gpu_split_batches = m.split_batches;
        st->gpu_split_min = m.split_min;
        st->gpu_workspace_bytes = m.workspace_bytes;
        st->gpu_workspace_reduced = m.workspace_reduced;
    }
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

/* ---- labse_encode: windows, batches, a ring of batches in flight ------------------------
 *
 * The batches of a call go through the session's backend as the streaming pipeline sends
 * them (engine/backend.h, "Streaming use"): batch j in ring slot j % depth; before a slot is
 * reused, wait for it and scatter its rows to their places in the caller's out. On the GPU
 * (depth 2) batch j+1 is packed and its ids copied up while batch j computes, and batch j's
 * rows come down while batch j+1 computes; the ring is not drained at a window's end, so the
 * next window is tokenised while the last batches of the previous one compute. On the CPU
 * (depth 1) submit computes, which is the synchronous loop. Each slot's rows land in the
 * session's own host buffers, never in the caller's memory, so the bytes are those of the
 * synchronous path (the same batches through the same kernels) and nothing is written to
 * out after labse_encode returns. On an error every slot still in flight is waited for
 * (the backend is idle again, the session stays usable) and the first error is returned;
 * out is then partly written (labse.h).
 * What it buys on hardware (estimate, not measured): LaBSE at the default 16,384-token budget
 * computes a batch in ~5-7 ms on an H100/H200 (bench/perf_model.py); one batch at a time adds
 * per batch the pack and staging copies (~0.1 ms), the rows' D2H (~3.5 MB, ~0.2 ms), their
 * scatter into out (~0.3-0.5 ms) and the launch of the next batch, i.e. ~10% idle GPU, which
 * the ring hides. Tokenising a window on this thread (~27 ms for 32,768 bitext lines, whose
 * ~28 batches compute in ~150-190 ms) overlaps only the window's last two batches (~10-14 ms):
 * ~5-8% idle remains there for calls of more than one window. */

/* Grow ring slot k's host buffers (the backend's: pinned on the GPU) to tok ids and seq
 * sequences. The slot must be idle. 0 or -1 (out of memory; the slot keeps what it had). */
static int ring_reserve(labse_session *s, int k, size_t tok, size_t seq) {
    ring_slot *r = &s->ring[k];
    const lb_backend *be = &s->be;
    const size_t dim = (size_t)lb_engine_dim(s->model->e);
    if (tok > r->cap_tok) {
        size_t c = r->cap_tok * 2 > tok ? r->cap_tok * 2 : tok;
        int32_t *p = be->host_alloc(be->ctx, c * sizeof *p);
        if (!p) return -1;
        be->host_free(be->ctx, r->ids);
        r->ids = p;
        r->cap_tok = c;
    }
    if (seq > r->cap_seq) {
        size_t c = r->cap_seq * 2 > seq ? r->cap_seq * 2 : seq;
        int32_t *cu = be->host_alloc(be->ctx, (c + 1) * sizeof *cu);
        float *rows = cu ? be->host_alloc(be->ctx, c * dim * sizeof *rows) : NULL;
        size_t *dst = rows ? malloc(c * sizeof *dst) : NULL;
        if (!dst) {
            if (rows) be->host_free(be->ctx, rows);
            if (cu) be->host_free(be->ctx, cu);
            return -1;
        }
        be->host_free(be->ctx, r->cu);
        be->host_free(be->ctx, r->rows);
        free(r->dst);
        r->cu = cu;
        r->rows = rows;
        r->dst = dst;
        r->cap_seq = c;
    }
    return 0;
}

/* Free every ring buffer (no slot may be in flight). */
static void ring_free(labse_session *s) {
    for (int k = 0; k < LB_BACKEND_MAX_DEPTH; k++) {
        ring_slot *r = &s->ring[k];
        if (r->ids) s->be.host_free(s->be.ctx, r->ids);
        if (r->cu) s->be.host_free(s->be.ctx, r->cu);
        if (r->rows) s->be.host_free(s->be.ctx, r->rows);
        free(r->dst);
        memset(r, 0, sizeof *r);
    }
}

/* Wait for slot k (if in flight) and copy its rows to out at their destinations; count the
 * batch in the session's stats. */
static labse_status ring_drain(labse_session *s, int k, float *out, labse_error *e) {
    ring_slot *r = &s->ring[k];
    if (!r->busy) return LABSE_OK;
    r->busy = 0;
    labse_status st = s->be.wait(s->be.ctx, k, e);
    if (st != LABSE_OK) return st;
    const size_t dim = (size_t)lb_engine_dim(s->model->e);
    for (size_t q = 0; q < r->n; q++)
        memcpy(out + r->dst[q] * dim, r->rows + q * dim, dim * sizeof *out);
    s->stats.batches++;
    s->stats.texts += r->n;
    s->stats.tokens += r->tok;
    return LABSE_OK;
}

/* After an error: wait for every slot still in flight, oldest first, their rows dropped (the
 * backend must be idle before its buffers are reused or freed); a later error is ignored. */
static void ring_abandon(labse_session *s) {
    labse_error ignored;
    for (int k = 0; k < s->be.depth; k++)
        if (s->ring[k].busy) {
            s->ring[k].busy = 0;
            s->be.wait(s->be.ctx, k, &ignored);
        }
}

/* Tokenise one window texts[0..n) into the session's window buffers (wids, woff, wptr,
 * ntok) and sort it by length into order. */
static labse_status tokenize_window(labse_session *s, const char *const *texts,
                                    const size_t *lens, size_t n, labse_error *e) {
    const lb_engine *en = s->model->e;
    const int max_len = lb_engine_max_length(en);
    const size_t maxlen = (size_t)max_len;
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
    return LABSE_OK;
}

/* Encode one window (texts first..first+n of the call): tokenise, then order, cut and pack
 * batches with the packer (pack.h) exactly as the streaming pipeline does, so that `labse
 * encode` and labse_encode give the same batches, hence the same bytes. Each batch goes to
 * ring slot (*j % depth), whose previous batch is drained into out first; the window's last
 * batches are left in flight. */
static labse_status encode_window(labse_session *s, const char *const *texts, const size_t *lens,
                                  size_t first, size_t n, float *out, size_t *j, labse_error *e) {
    const lb_engine *en = s->model->e;
    labse_status st = tokenize_window(s, texts + first, lens ? lens + first : NULL, n, e);
    if (st != LABSE_OK) return st;
    const lb_pack_budget budget =
        lb_pack_budget_of(lb_engine_options(en)->batch_tokens, lb_engine_max_length(en));
    for (size_t at = 0; at < n;) {
        const size_t nb = lb_pack_next(s->ntok, s->order, at, n, budget, n);
        size_t tok = 0;
        for (size_t q = 0; q < nb; q++) tok += (size_t)s->ntok[s->order[at + q]];
        const int k = (int)(*j % (size_t)s->be.depth);
        if ((st = ring_drain(s, k, out, e)) != LABSE_OK) return st;
        if (ring_reserve(s, k, tok, nb))
            return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory for a batch");
        ring_slot *r = &s->ring[k];
        lb_pack_ids(s->wptr, s->ntok, s->order + at, nb, r->ids, r->cu);
        for (size_t q = 0; q < nb; q++) r->dst[q] = first + s->order[at + q];
        r->n = nb;
        r->tok = tok;
        if ((st = s->be.submit(s->be.ctx, k, r->ids, r->cu, (int)nb, r->rows, e)) != LABSE_OK)
            return st;
        r->busy = 1;
        (*j)++;
        at += nb;
    }
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
    size_t j = 0; /* batches submitted in this call */
    labse_status st = LABSE_OK;
    for (size_t first = 0; first < n && st == LABSE_OK;) {
        size_t k = lb_window_cut(texts + first, lens ? lens + first : NULL, n - first, W,
                                 LB_WINDOW_BYTES);
        st = encode_window(s, texts, lens, first, k, out, &j, &e);
        first += k;
    }
    /* the last batches, oldest first */
    for (size_t q = 0; q < (size_t)s->be.depth && st == LABSE_OK; q++)
        st = ring_drain(s, (int)((j + q) % (size_t)s->be.depth), out, &e);
    if (st != LABSE_OK) {
        ring_abandon(s);
        return fail(s, err, &e);
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
