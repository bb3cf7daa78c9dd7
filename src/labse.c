/* labse.c — the public API (include/labse.h) over the internal model, tokenizer and backends.
 *
 * labse_model wraps the immutable lb_model plus the options it was loaded with; a
 * labse_session holds one thread's packing buffers and backend workspace. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "encoder.h"
#include "model.h"
#include "tokenizer.h"

struct labse_model {
    lb_model *m;
    labse_options opt;    /* as given, with defaults resolved */
    labse_device device;  /* resolved: CPU or CUDA */
    int max_length;       /* effective max tokens per sentence */
};

struct labse_session {
    const labse_model *model;
    lb_cpu_ws *ws;
    int32_t *ids;         /* [cap_ids] packed ids of the batch being built */
    int32_t *cu;          /* [cap_cu] offsets */
    size_t cap_ids, cap_cu;
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
    return o;
}

labse_status labse_model_load(const char *dir, const labse_options *opt, labse_model **out,
                              labse_error *err) {
    lb_err_clear(err);
    if (!dir || !out) return lb_err(err, LABSE_E_INVALID, "labse_model_load: NULL argument");
    labse_options o = opt ? *opt : labse_default_options();
    if (o.threads < 0) return lb_err(err, LABSE_E_INVALID, "threads must be >= 0 (got %d)", o.threads);
    if (o.batch_tokens < 1)
        return lb_err(err, LABSE_E_INVALID, "batch_tokens must be >= 1 (got %d)", o.batch_tokens);
    if (o.max_length < 0)
        return lb_err(err, LABSE_E_INVALID, "max_length must be >= 0 (got %d)", o.max_length);
    labse_device dev;
    switch (o.device) {
    case LABSE_DEVICE_CPU: dev = LABSE_DEVICE_CPU; break;
    case LABSE_DEVICE_AUTO: dev = LABSE_DEVICE_CPU; break; /* no GPU backend in this build yet */
    case LABSE_DEVICE_CUDA:
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "device cuda: this build has no GPU backend yet (use --device cpu or auto)");
    default: return lb_err(err, LABSE_E_INVALID, "unknown device %d", (int)o.device);
    }
    lb_model *m = NULL;
    labse_status st = lb_model_load(dir, o.max_length, &m, err);
    if (st != LABSE_OK) return st;
    labse_model *lm = calloc(1, sizeof *lm);
    if (!lm) {
        lb_model_free(m);
        return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    }
    lm->m = m;
    lm->opt = o;
    lm->device = dev;
    lm->max_length = m->cfg.max_seq_length;
    *out = lm;
    return LABSE_OK;
}

void labse_model_free(labse_model *m) {
    if (!m) return;
    lb_model_free(m->m);
    free(m);
}

void labse_model_get_info(const labse_model *lm, labse_model_info *info) {
    if (!lm || !info) return;
    const lb_config *c = &lm->m->cfg;
    memset(info, 0, sizeof *info);
    info->layers = c->layers;
    info->hidden = c->hidden;
    info->heads = c->heads;
    info->intermediate = c->intermediate;
    info->vocab_size = c->vocab_size;
    info->max_position = c->max_position;
    info->max_length = lm->max_length;
    info->dim = c->dim;
    info->pooling = c->pooling;
    info->n_dense = lm->m->n_dense;
    info->normalize = c->normalize;
    info->lowercase = lm->m->cfg.lowercase;
    info->parameters = lm->m->parameters;
    info->device = lm->device;
}

int labse_model_dim(const labse_model *lm) { return lm ? lm->m->cfg.dim : 0; }

int labse_model_max_length(const labse_model *lm) { return lm ? lm->max_length : 0; }

size_t labse_tokenize(const labse_model *lm, const char *text, size_t len, int32_t *ids,
                      labse_tok_info *info, labse_error *err) {
    if (!lm || !ids || (!text && len)) {
        lb_err(err, LABSE_E_INVALID, "labse_tokenize: NULL argument");
        return 0;
    }
    labse_tok_info dummy;
    size_t n = lb_tokenize_text(lm->m->tok, text ? text : "", len, ids, (size_t)lm->max_length,
                                info ? info : &dummy);
    if (n == 0) lb_err(err, LABSE_E_NOMEM, "labse_tokenize: out of memory");
    return n;
}

labse_status labse_session_new(const labse_model *lm, labse_session **out, labse_error *err) {
    lb_err_clear(err);
    if (!lm || !out) return lb_err(err, LABSE_E_INVALID, "labse_session_new: NULL argument");
    labse_session *s = calloc(1, sizeof *s);
    if (!s || !(s->ws = lb_cpu_ws_new())) {
        free(s);
        return lb_err(err, LABSE_E_NOMEM, "labse_session_new: out of memory");
    }
    s->model = lm;
    *out = s;
    return LABSE_OK;
}

void labse_session_free(labse_session *s) {
    if (!s) return;
    lb_cpu_ws_free(s->ws);
    free(s->ids);
    free(s->cu);
    free(s);
}

const char *labse_session_errmsg(const labse_session *s) { return s ? s->err.message : ""; }

void labse_session_stats(const labse_session *s, labse_stats *st) {
    if (s && st) *st = s->stats;
}

/* Record err as the session's last error and copy it to the caller's. */
static labse_status fail(labse_session *s, labse_error *err, const labse_error *e) {
    s->err = *e;
    if (err) *err = *e;
    return e->status;
}

/* Ensure room for n more ids and one more offset. */
static int reserve(labse_session *s, size_t nids, size_t ncu) {
    if (nids > s->cap_ids) {
        size_t c = s->cap_ids ? s->cap_ids : 4096;
        while (c < nids) c *= 2;
        int32_t *p = realloc(s->ids, c * sizeof *p);
        if (!p) return -1;
        s->ids = p;
        s->cap_ids = c;
    }
    if (ncu > s->cap_cu) {
        size_t c = s->cap_cu ? s->cap_cu : 256;
        while (c < ncu) c *= 2;
        int32_t *p = realloc(s->cu, c * sizeof *p);
        if (!p) return -1;
        s->cu = p;
        s->cap_cu = c;
    }
    return 0;
}

static labse_status run_batch(labse_session *s, int n, float *out, labse_error *e) {
    lb_batch b = {.n = n, .ids = s->ids, .cu_seqlens = s->cu};
    labse_status st = lb_cpu_forward(s->model->m, s->ws, &b, s->model->opt.threads, out, NULL, e);
    if (st == LABSE_OK) {
        s->stats.batches++;
        s->stats.tokens += (uint64_t)s->cu[n];
    }
    return st;
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
    const labse_model *lm = s->model;
    const size_t maxlen = (size_t)lm->max_length, budget = (size_t)lm->opt.batch_tokens;
    const int dim = lm->m->cfg.dim;
    size_t first = 0; /* first text of the batch being built */
    int nb = 0;       /* sequences in it */
    if (reserve(s, maxlen + budget, 2)) goto nomem;
    s->cu[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = texts[i] ? texts[i] : "";
        size_t len = lens ? lens[i] : strlen(t);
        if (!texts[i] && lens && lens[i]) {
            lb_err(&e, LABSE_E_INVALID, "labse_encode: text %zu is NULL with length %zu", i, len);
            return fail(s, err, &e);
        }
        if (reserve(s, (size_t)s->cu[nb] + maxlen, (size_t)nb + 2)) goto nomem;
        labse_tok_info info;
        size_t k = lb_tokenize_text(lm->m->tok, t, len, s->ids + s->cu[nb], maxlen, &info);
        if (k == 0) goto nomem;
        /* Cut the batch before this text when it would exceed the token budget. */
        if (nb > 0 && (size_t)s->cu[nb] + k > budget) {
            int32_t *moved = s->ids + s->cu[nb];
            labse_status st = run_batch(s, nb, out + first * (size_t)dim, &e);
            if (st != LABSE_OK) return fail(s, err, &e);
            memmove(s->ids, moved, k * sizeof *s->ids);
            first = i;
            nb = 0;
        }
        s->cu[nb + 1] = s->cu[nb] + (int32_t)k;
        nb++;
        s->stats.texts++;
        s->stats.truncated += info.truncated != 0;
        s->stats.repaired += info.repaired != 0;
    }
    if (nb > 0) {
        labse_status st = run_batch(s, nb, out + first * (size_t)dim, &e);
        if (st != LABSE_OK) return fail(s, err, &e);
    }
    return LABSE_OK;
nomem:
    lb_err(&e, LABSE_E_NOMEM, "labse_encode: out of memory for token buffers");
    return fail(s, err, &e);
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
    lb_batch b = {.n = (int)n, .ids = ids, .cu_seqlens = cu_seqlens};
    labse_status st = lb_cpu_forward(s->model->m, s->ws, &b, s->model->opt.threads, out, NULL, &e);
    if (st != LABSE_OK) return fail(s, err, &e);
    s->stats.batches++;
    s->stats.texts += n;
    s->stats.tokens += (uint64_t)cu_seqlens[n];
    return LABSE_OK;
}
