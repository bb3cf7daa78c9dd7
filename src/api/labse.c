/* labse.c — the public API (include/labse.h) over the internal model, tokenizer and backends.
 *
 * labse_model wraps the immutable lb_model plus the options it was loaded with; a
 * labse_session holds one thread's packing buffers and backend workspace. */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "cpu/encoder.h"
#ifdef LABSE_HAVE_GPU
#include "gpu/gpu.h"
#endif
#include "model/model.h"
#include "pipeline/pipe_internal.h"
#include "pipeline/pipeline.h"
#include "model/tokenizer.h"

struct labse_model {
    lb_model *m;
    labse_options opt;    /* as given, with defaults resolved */
    labse_device device;  /* resolved: CPU or CUDA */
    int max_length;       /* effective max tokens per sentence */
    char *model_id;       /* realpath of the folder (or the path as given): manifests */
    char device_name[128]; /* "cpu" or "cuda:N (name)" */
#ifdef LABSE_HAVE_GPU
    lb_gpu_weights *gw[LB_MAX_GPUS]; /* the weights on each GPU used (device CUDA only) */
    int n_gpus;
    _Atomic unsigned next_gpu;        /* round-robin of sessions over the GPUs */
#endif
};

struct labse_session {
    const labse_model *model;
    lb_cpu_ws *ws;        /* CPU device */
#ifdef LABSE_HAVE_GPU
    lb_gpu_ctx *gpu;      /* CUDA device: streams, activations, GEMM cache */
#endif
    /* one window of labse_encode: */
    int32_t *wids;        /* [cap_wids] ids of the window's texts, back to back */
    size_t *woff;         /* [cap_win] offset of text j's ids in wids */
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
    labse_options o = opt ? *opt : labse_default_options();
    if (o.threads < 0) return lb_err(err, LABSE_E_INVALID, "threads must be >= 0 (got %d)", o.threads);
    if (o.batch_tokens < 1)
        return lb_err(err, LABSE_E_INVALID, "batch_tokens must be >= 1 (got %d)", o.batch_tokens);
    if (o.max_length < 0)
        return lb_err(err, LABSE_E_INVALID, "max_length must be >= 0 (got %d)", o.max_length);
    if (o.window < 1)
        return lb_err(err, LABSE_E_INVALID, "window must be >= 1 (got %d)", o.window);
    labse_device dev;
    switch (o.device) {
    case LABSE_DEVICE_CPU: dev = LABSE_DEVICE_CPU; break;
    case LABSE_DEVICE_AUTO:
        /* The GPU when this build has a real one and a device is present. The emulator is a
         * test device: auto never picks it. */
#ifdef LABSE_HAVE_GPU
        dev = !lb_gpu_is_emulated() && lb_gpu_device_count() > (o.cuda_device > 0 ? o.cuda_device : 0)
                  ? LABSE_DEVICE_CUDA : LABSE_DEVICE_CPU;
#else
        dev = LABSE_DEVICE_CPU;
#endif
        break;
    case LABSE_DEVICE_CUDA:
#ifdef LABSE_HAVE_GPU
        dev = LABSE_DEVICE_CUDA;
        break;
#else
        return lb_err(err, LABSE_E_UNSUPPORTED,
                      "device cuda: this build has no GPU backend (it was built without CUDA; "
                      "use --device cpu or auto)");
#endif
    default: return lb_err(err, LABSE_E_INVALID, "unknown device %d", (int)o.device);
    }
    if (o.cuda_device < 0 && o.cuda_device != LABSE_CUDA_ALL)
        return lb_err(err, LABSE_E_INVALID, "cuda_device must be >= 0 or LABSE_CUDA_ALL (got %d)",
                      o.cuda_device);
    char devname[128] = "cpu";
#ifdef LABSE_HAVE_GPU
    int gpus[LB_MAX_GPUS], n_gpus = 0;
    if (dev == LABSE_DEVICE_CUDA) {
        char gname[96];
        if (o.cuda_device == LABSE_CUDA_ALL) {
            n_gpus = lb_gpu_device_count();
            if (n_gpus < 1) return lb_gpu_device_check(0, NULL, 0, err); /* the reason */
            if (n_gpus > LB_MAX_GPUS) n_gpus = LB_MAX_GPUS;
            for (int g = 0; g < n_gpus; g++) gpus[g] = g;
        } else {
            gpus[n_gpus++] = o.cuda_device;
        }
        labse_status ds = lb_gpu_device_check(gpus[0], gname, sizeof gname, err);
        if (ds != LABSE_OK) return ds;
        if (n_gpus == 1)
            snprintf(devname, sizeof devname, "cuda:%d (%s%s)", gpus[0], gname,
                     lb_gpu_is_emulated() ? ", emulated" : "");
        else
            snprintf(devname, sizeof devname, "cuda:0-%d (%d × %s%s)", n_gpus - 1, n_gpus, gname,
                     lb_gpu_is_emulated() ? ", emulated" : "");
    }
#endif
    lb_model *m = NULL;
    labse_status st = lb_model_load(dir, o.max_length, &m, err);
    if (st != LABSE_OK) return st;
#ifdef LABSE_HAVE_GPU
    lb_gpu_weights *gw[LB_MAX_GPUS] = {0};
    for (int g = 0; g < n_gpus; g++)
        if ((st = lb_gpu_weights_new(m, gpus[g], &gw[g], err)) != LABSE_OK) {
            lb_err_prefix(err, "cuda:%d", gpus[g]);
            for (int k = 0; k < g; k++) lb_gpu_weights_free(gw[k]);
            lb_model_free(m);
            return st;
        }
#endif
    labse_model *lm = calloc(1, sizeof *lm);
    if (!lm) {
#ifdef LABSE_HAVE_GPU
        for (int g = 0; g < n_gpus; g++) lb_gpu_weights_free(gw[g]);
#endif
        lb_model_free(m);
        return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    }
    lm->m = m;
#ifdef LABSE_HAVE_GPU
    memcpy(lm->gw, gw, sizeof gw);
    lm->n_gpus = n_gpus;
#endif
    snprintf(lm->device_name, sizeof lm->device_name, "%s", devname);
    lm->opt = o;
    lm->device = dev;
    lm->max_length = m->cfg.max_seq_length;
    char real[PATH_MAX];
    lm->model_id = strdup(realpath(dir, real) ? real : dir);
    if (!lm->model_id) {
        labse_model_free(lm);
        return lb_err(err, LABSE_E_NOMEM, "labse_model_load: out of memory");
    }
    *out = lm;
    return LABSE_OK;
}

void labse_model_free(labse_model *m) {
    if (!m) return;
#ifdef LABSE_HAVE_GPU
    for (int g = 0; g < m->n_gpus; g++) lb_gpu_weights_free(m->gw[g]);
#endif
    lb_model_free(m->m);
    free(m->model_id);
    free(m);
}

const labse_options *lb_model_options(const labse_model *m) { return &m->opt; }

const char *lb_model_id(const labse_model *m) { return m->model_id; }

const lb_model *lb_model_inner(const labse_model *m) { return m->m; }

int lb_model_gpu_count(const labse_model *m) {
#ifdef LABSE_HAVE_GPU
    return m->n_gpus;
#else
    (void)m;
    return 0;
#endif
}

const struct lb_gpu_weights *lb_model_gpu_weights(const labse_model *m, int i) {
#ifdef LABSE_HAVE_GPU
    return i >= 0 && i < m->n_gpus ? m->gw[i] : NULL;
#else
    (void)m;
    (void)i;
    return NULL;
#endif
}

const char *lb_model_device_name(const labse_model *m) { return m->device_name; }

labse_status lb_pipe_backend_for(const labse_model *m, lb_pipe_backend *be, labse_error *err) {
    memset(be, 0, sizeof *be);
#ifdef LABSE_HAVE_GPU
    if (m->device == LABSE_DEVICE_CUDA) return lb_pipe_backend_gpu(m, be, err);
#endif
    return lb_pipe_backend_cpu(m, be, err);
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
    snprintf(info->device_name, sizeof info->device_name, "%s", lm->device_name);
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
#ifdef LABSE_HAVE_GPU
    if (lm->device == LABSE_DEVICE_CUDA) {
        labse_model *mm = (labse_model *)lm; /* the counter is the one mutable field */
        unsigned g = atomic_fetch_add(&mm->next_gpu, 1u) % (unsigned)lm->n_gpus;
        labse_status st = lb_gpu_ctx_new(lm->m, lm->gw[g], lm->opt.batch_tokens, 1, &s->gpu, err);
        if (st != LABSE_OK) {
            labse_session_free(s);
            return st;
        }
    }
#endif
    *out = s;
    return LABSE_OK;
}

void labse_session_free(labse_session *s) {
    if (!s) return;
#ifdef LABSE_HAVE_GPU
    lb_gpu_ctx_free(s->gpu);
#endif
    lb_cpu_ws_free(s->ws);
    free(s->wids);
    free(s->woff);
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

/* One packed batch on the session's device: rows → out [b->n, dim]. */
static labse_status forward(labse_session *s, const lb_batch *b, float *out, labse_error *e) {
#ifdef LABSE_HAVE_GPU
    if (s->gpu) return lb_gpu_encode(s->gpu, b->ids, b->cu_seqlens, b->n, out, e);
#endif
    return lb_cpu_forward(s->model->m, s->ws, b, s->model->opt.threads, out, NULL, e);
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

/* Encode one window texts[0..n) into out[n * dim]: tokenise, sort by length, cut batches
 * exactly as the streaming pipeline does (lb_bucket_order, lb_batch_cut; see pipeline.h), so
 * that `labse encode` and labse_encode give the same batches — hence the same bytes. */
static labse_status encode_window(labse_session *s, const char *const *texts, const size_t *lens,
                                  size_t n, float *out, labse_error *e) {
    const labse_model *lm = s->model;
    const size_t maxlen = (size_t)lm->max_length, dim = (size_t)lm->m->cfg.dim;
    if (n > s->cap_win) { /* woff, ntok and order share cap_win */
        size_t *wo = realloc(s->woff, n * sizeof *wo);
        if (wo) s->woff = wo;
        int32_t *nt = wo ? realloc(s->ntok, n * sizeof *nt) : NULL;
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
        size_t k = lb_tokenize_text(lm->m->tok, t, len, s->wids + used, maxlen, &info);
        if (k == 0) return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory (tokenizer)");
        s->woff[i] = used;
        s->ntok[i] = (int32_t)k;
        used += k;
        s->stats.truncated += info.truncated != 0;
        s->stats.repaired += info.repaired != 0;
    }
    if (lb_bucket_order(s->ntok, n, lm->max_length, s->order) != 0)
        return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory");
    const uint64_t bt = (uint64_t)lm->opt.batch_tokens;
    const uint64_t attn = bt * (uint64_t)lm->max_length / 2;
    for (size_t at = 0; at < n;) {
        size_t nb = lb_batch_cut(s->ntok, s->order, at, n, bt, attn);
        size_t tok = 0;
        for (size_t q = 0; q < nb; q++) tok += (size_t)s->ntok[s->order[at + q]];
        if (GROW(s->ids, s->cap_ids, tok) || GROW(s->cu, s->cap_cu, nb + 1) ||
            GROW(s->rows, s->cap_rows, nb * dim))
            return lb_err(e, LABSE_E_NOMEM, "labse_encode: out of memory for a batch");
        s->cu[0] = 0;
        for (size_t q = 0; q < nb; q++) {
            uint32_t j = s->order[at + q];
            memcpy(s->ids + s->cu[q], s->wids + s->woff[j], (size_t)s->ntok[j] * sizeof *s->ids);
            s->cu[q + 1] = s->cu[q] + s->ntok[j];
        }
        lb_batch b = {.n = (int)nb, .ids = s->ids, .cu_seqlens = s->cu};
        labse_status st = forward(s, &b, s->rows, e);
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
    /* Windows as the pipeline cuts them (pipe_tokpool.c): at most opt.window texts, and at most
     * the pipeline's default window_bytes of text (a text counting at most LB_PIPE_LINE_CAP). */
    const size_t W = (size_t)s->model->opt.window, wbytes = (size_t)64 << 20;
    const int dim = s->model->m->cfg.dim;
    for (size_t first = 0; first < n;) {
        size_t k = 0, bytes = 0;
        while (k < W && first + k < n) {
            size_t i = first + k;
            size_t len = lens ? lens[i] : (texts[i] ? strlen(texts[i]) : 0);
            if (len > LB_PIPE_LINE_CAP) len = LB_PIPE_LINE_CAP;
            if (bytes + len > wbytes && k > 0) break;
            bytes += len;
            k++;
        }
        labse_status st = encode_window(s, texts + first, lens ? lens + first : NULL, k,
                                        out + first * (size_t)dim, &e);
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
    lb_batch b = {.n = (int)n, .ids = ids, .cu_seqlens = cu_seqlens};
    labse_status st = forward(s, &b, out, &e);
    if (st != LABSE_OK) return fail(s, err, &e);
    s->stats.batches++;
    s->stats.texts += n;
    s->stats.tokens += (uint64_t)cu_seqlens[n];
    return LABSE_OK;
}
