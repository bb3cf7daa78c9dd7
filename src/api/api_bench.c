/* api_bench.c — labse_bench_encoder (include/labse.h): the encoder alone. The texts are
 * tokenised and packed up front with the packer (pipeline/pack.h: the windows and batches of
 * labse_encode and the streaming pipeline), then only the engine's streaming backend is timed:
 * the ring of host buffers, `depth` batches in flight, copies both ways included. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/common.h"
#include "engine/engine.h"
#include "pipeline/pack.h"

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The texts, packed: batch j is bn[j] sequences with offsets cu[bstart[j] .. + bn[j]] (each
 * batch's own cu_seqlens, cu[bstart[j]] = 0) and its ids next in `ids` (batches back to back).
 * Heap arrays, freed by packed_free. */
typedef struct packed {
    int32_t *ids, *cu;
    uint32_t *bstart, *bn;
    size_t nb, max_b, max_t;   /* batches, the most sequences and tokens of one batch */
    uint64_t tokens, sum_sq;
} packed;

static void packed_free(packed *p) {
    free(p->ids);
    free(p->cu);
    free(p->bstart);
    free(p->bn);
}

/* Tokenise texts[0..n) and pack them as labse_encode does. */
static labse_status pack_all(const lb_engine *e, const char *const *texts, const size_t *lens,
                             size_t n, packed *p, labse_error *err) {
    const int maxlen = lb_engine_max_length(e);
    const labse_options *o = lb_engine_options(e);
    const lb_pack_budget budget = lb_pack_budget_of(o->batch_tokens, maxlen);
    labse_status s = LABSE_OK;
    int32_t *ntok = malloc((n ? n : 1) * sizeof *ntok), *all = NULL;
    size_t *off = malloc((n ? n : 1) * sizeof *off);
    const int32_t **ptr = malloc((n ? n : 1) * sizeof *ptr);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order);
    size_t cap = n * 32 + 1024, used = 0;
    all = malloc(cap * sizeof *all);
    if (!ntok || !off || !ptr || !order || !all) goto oom;
    for (size_t i = 0; i < n; i++) {
        if (used + (size_t)maxlen > cap) {
            cap = cap * 2 + (size_t)maxlen;
            int32_t *a = realloc(all, cap * sizeof *all);
            if (!a) goto oom;
            all = a;
        }
        const char *t = texts[i] ? texts[i] : "";
        size_t k = lb_engine_tokenize(e, t, lens ? lens[i] : strlen(t), all + used, NULL);
        if (k == 0) {
            s = lb_err(err, LABSE_E_NOMEM, "tokenize: text %zu: out of memory", i);
            goto done;
        }
        off[i] = used;
        ntok[i] = (int32_t)k;
        used += k;
    }
    for (size_t i = 0; i < n; i++) ptr[i] = all + off[i];
    p->ids = malloc((used ? used : 1) * sizeof *p->ids);
    p->cu = malloc((2 * n + 2) * sizeof *p->cu); /* per batch: its offsets, concatenated */
    p->bstart = malloc((n + 2) * sizeof *p->bstart);
    p->bn = malloc((n + 2) * sizeof *p->bn);
    if (!p->ids || !p->cu || !p->bstart || !p->bn) goto oom;
    size_t pk = 0, ci = 0;
    for (size_t w0 = 0; w0 < n;) {
        size_t wn = lb_window_cut(texts + w0, lens ? lens + w0 : NULL, n - w0,
                                  (size_t)o->window, LB_WINDOW_BYTES);
        if (lb_bucket_order(ntok + w0, wn, maxlen, order) != 0) goto oom;
        for (size_t at = 0; at < wn;) {
            size_t k = lb_pack_next(ntok + w0, order, at, wn, budget, wn);
            size_t t = lb_pack_ids(ptr + w0, ntok + w0, order + at, k, p->ids + pk, p->cu + ci);
            for (size_t q = 0; q < k; q++) {
                uint64_t l = (uint64_t)ntok[w0 + order[at + q]];
                p->sum_sq += l * l;
            }
            p->bstart[p->nb] = (uint32_t)ci;
            p->bn[p->nb] = (uint32_t)k;
            p->nb++;
            ci += k + 1;
            pk += t;
            if (k > p->max_b) p->max_b = k;
            if (t > p->max_t) p->max_t = t;
            at += k;
        }
        w0 += wn;
    }
    p->tokens = pk;
    goto done;
oom:
    s = lb_err(err, LABSE_E_NOMEM, "bench: out of memory");
done:
    free(ntok);
    free(off);
    free(ptr);
    free(order);
    free(all);
    return s;
}

/* 1 + repeat runs of every batch through be; out->seconds = the best timed run. */
static labse_status time_runs(const lb_backend *be, const packed *p, int dim, int repeat,
                              labse_bench_result *out, labse_error *err) {
    int32_t *ids_s[LB_BACKEND_MAX_DEPTH] = {0}, *cu_s[LB_BACKEND_MAX_DEPTH] = {0};
    float *out_s[LB_BACKEND_MAX_DEPTH] = {0};
    labse_status s = LABSE_OK;
    for (int k = 0; k < be->depth; k++) {
        ids_s[k] = be->host_alloc(be->ctx, p->max_t * sizeof(int32_t));
        cu_s[k] = be->host_alloc(be->ctx, (p->max_b + 1) * sizeof(int32_t));
        out_s[k] = be->host_alloc(be->ctx, p->max_b * (size_t)dim * sizeof(float));
        if (!ids_s[k] || !cu_s[k] || !out_s[k]) {
            s = lb_err(err, LABSE_E_NOMEM, "bench: out of memory");
            goto done;
        }
    }
    double best = 1e300;
    for (int r = 0; r <= repeat; r++) { /* run 0 warms up (allocation, algorithm choice) */
        double t0 = wall_now();
        size_t tok_at = 0;
        for (size_t j = 0; j < p->nb; j++) {
            int k = (int)(j % (size_t)be->depth);
            if (j >= (size_t)be->depth && (s = be->wait(be->ctx, k, err)) != LABSE_OK) break;
            const int32_t *c = p->cu + p->bstart[j];
            size_t T = (size_t)c[p->bn[j]];
            memcpy(ids_s[k], p->ids + tok_at, T * sizeof(int32_t));
            memcpy(cu_s[k], c, (p->bn[j] + 1) * sizeof(int32_t));
            tok_at += T;
            s = be->submit(be->ctx, k, ids_s[k], cu_s[k], (int)p->bn[j], out_s[k], err);
            if (s != LABSE_OK) break;
        }
        for (int k = 0; k < be->depth && s == LABSE_OK; k++) s = be->wait(be->ctx, k, err);
        if (s != LABSE_OK) {
            lb_err_prefix(err, "encode");
            goto done;
        }
        double dt = wall_now() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    out->seconds = best;
    if (be->timing) be->timing(be->ctx, &out->device_busy_s, &out->device_span_s);
done:
    for (int k = 0; k < LB_BACKEND_MAX_DEPTH; k++) {
        if (ids_s[k]) be->host_free(be->ctx, ids_s[k]);
        if (cu_s[k]) be->host_free(be->ctx, cu_s[k]);
        if (out_s[k]) be->host_free(be->ctx, out_s[k]);
    }
    return s;
}

labse_status labse_bench_encoder(const labse_model *m, const char *const *texts,
                                 const size_t *lens, size_t n, int repeat,
                                 labse_bench_result *out, labse_error *err) {
    lb_err_clear(err);
    if (!m || !out || (n && !texts))
        return lb_err(err, LABSE_E_INVALID, "labse_bench_encoder: NULL argument");
    if (repeat < 1)
        return lb_err(err, LABSE_E_INVALID, "labse_bench_encoder: repeat %d < 1", repeat);
    const lb_engine *e = lb_model_engine(m);
    packed p;
    memset(&p, 0, sizeof p);
    labse_status s = pack_all(e, texts, lens, n, &p, err);
    lb_backend be;
    memset(&be, 0, sizeof be);
    if (s == LABSE_OK && (s = lb_engine_backend(e, LB_BACKEND_STREAM, &be, err)) != LABSE_OK)
        lb_err_prefix(err, "backend");
    labse_bench_result r;
    memset(&r, 0, sizeof r);
    if (s == LABSE_OK) s = time_runs(&be, &p, lb_engine_dim(e), repeat, &r, err);
    if (s == LABSE_OK) {
        snprintf(r.backend, sizeof r.backend, "%s", be.name);
        r.in_flight = be.depth;
        r.batch_tokens = lb_engine_options(e)->batch_tokens;
        r.repeat = repeat;
        r.sentences = n;
        r.tokens = p.tokens;
        r.batches = p.nb;
        r.sum_len_sq = p.sum_sq;
        *out = r;
    }
    if (be.destroy) be.destroy(be.ctx);
    packed_free(&p);
    return s;
}
