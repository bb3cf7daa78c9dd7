/* api_file_mine.c — the public labse_encode_file (the streaming pipeline, src/pipeline.c) and
 * labse_mine (src/knn.c + src/margin.c): the same engines and setup as `labse encode` and
 * `labse mine --src-emb/--tgt-emb`, without printing. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "mine/knn.h"
#include "mine/margin.h"
#include "mine/mine_emb.h"
#include "pipeline/pipeline.h"

labse_file_options labse_default_file_options(void) {
    labse_file_options o;
    memset(&o, 0, sizeof o);
    o.dtype = LABSE_DTYPE_F32;
    o.tok_threads = 0;
    o.part_rows = 1000000;
    o.window = 0;
    o.shard_index = 0;
    o.shard_count = 1;
    o.progress_interval = 0.5;
    return o;
}

int labse_output_is_folder(const char *output) { return output && lb_pipe_output_is_dir(output); }

labse_status labse_encode_file(const labse_model *m, const char *input, const char *output,
                               const labse_file_options *opt, labse_file_stats *st,
                               labse_error *err) {
    lb_err_clear(err);
    if (!m || !input || !output)
        return lb_err(err, LABSE_E_INVALID, "labse_encode_file: NULL argument");
    labse_file_options fo = opt ? *opt : labse_default_file_options();
    const lb_engine *e = lb_model_engine(m);
    lb_pipe_options po = lb_pipe_default_options();
    switch (fo.dtype) {
    case LABSE_DTYPE_F32: po.dtype = LB_NPY_F32; break;
    case LABSE_DTYPE_F16: po.dtype = LB_NPY_F16; break;
    default: return lb_err(err, LABSE_E_INVALID, "dtype %d is not f32 or f16", (int)fo.dtype);
    }
    if (fo.tok_threads < 0 || fo.tok_threads > 4096)
        return lb_err(err, LABSE_E_INVALID, "tok_threads %d not in 0..4096", fo.tok_threads);
    if (fo.part_rows < 1 || fo.part_rows > ((uint64_t)1 << 40))
        return lb_err(err, LABSE_E_INVALID, "part_rows %" PRIu64 " not in 1..2^40", fo.part_rows);
    size_t window = fo.window ? fo.window : (size_t)lb_engine_options(e)->window;
    if (window > ((size_t)1 << 24))
        return lb_err(err, LABSE_E_INVALID, "window %zu not in 1..16777216", window);
    po.tok_threads = fo.tok_threads;
    po.part_rows = fo.part_rows;
    po.window = fo.window; /* 0: the engine's */
    if (!(fo.progress_interval >= 0))
        return lb_err(err, LABSE_E_INVALID, "progress_interval %g must be >= 0",
                      fo.progress_interval);
    po.progress = fo.progress;
    po.progress_interval = fo.progress_interval;
    po.should_stop = fo.should_stop;
    po.user = fo.user;
    po.input = input;
    po.model_id = lb_engine_id(e);
    char outbuf[4096];
    labse_status s = lb_pipe_set_output(&po, output, fo.shard_index, fo.shard_count, outbuf,
                                        sizeof outbuf, err);
    if (s != LABSE_OK) return s;
    lb_backend be;
    s = lb_engine_backend(e, LB_BACKEND_STREAM, &be, err);
    if (s != LABSE_OK) return s;
    lb_pipe_stats ps;
    memset(&ps, 0, sizeof ps);
    s = lb_pipe_run(e, &be, &po, &ps, err);
    be.destroy(be.ctx);
    if (s != LABSE_OK) return s;
    if (st) {
        memset(st, 0, sizeof *st);
        st->lines = ps.lines;
        st->lines_resumed = ps.lines_resumed;
        st->tokens = ps.tokens;
        st->truncated = ps.truncated;
        st->repaired = ps.repaired;
        st->capped = ps.capped;
        st->batches = ps.batches;
        st->seconds = ps.seconds;
        st->already_complete = ps.already_complete;
        st->stopped = ps.stopped;
        st->tok_threads = ps.tok_threads;
        st->tok_cpu_seconds = ps.tok_cpu_seconds;
        st->encode_seconds = ps.encode_seconds;
        st->wait_seconds = ps.wait_seconds;
        st->device_busy_seconds = ps.device_busy_seconds;
        st->device_span_seconds = ps.device_span_seconds;
        snprintf(st->output, sizeof st->output, "%s", po.output);
    }
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

labse_status labse_mine(const float *src, size_t ns, const float *tgt, size_t nt, size_t dim,
                        const labse_mine_options *opt, labse_pair **pairs, size_t *n_pairs,
                        labse_error *err) {
    lb_err_clear(err);
    if (!src || !tgt || !pairs || !n_pairs)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: NULL argument");
    labse_mine_options o = opt ? *opt : labse_default_mine_options();
    if (ns == 0 || nt == 0)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: %s has no rows (an empty corpus has "
                      "nothing to mine)", ns == 0 ? "src" : "tgt");
    if (dim == 0) return lb_err(err, LABSE_E_INVALID, "labse_mine: dim is 0");
    if ((uint64_t)ns > LB_EMB_MAX_ROWS || (uint64_t)nt > LB_EMB_MAX_ROWS)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: more than %" PRIu64 " rows",
                      (uint64_t)LB_EMB_MAX_ROWS);
    if (o.k < 1 || o.k > (1 << 20))
        return lb_err(err, LABSE_E_INVALID, "labse_mine: k = %d not in 1..1048576", o.k);
    if (o.block_rows < 1 || o.block_rows > ((size_t)1 << 20))
        return lb_err(err, LABSE_E_INVALID, "labse_mine: block_rows %zu not in 1..1048576",
                      o.block_rows);
    if (o.threads < 0)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: threads = %d must be >= 0", o.threads);
    if ((unsigned)o.margin > LABSE_MARGIN_ABSOLUTE)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: unknown margin %d", (int)o.margin);
    if ((unsigned)o.retrieval > LABSE_RETRIEVAL_MAX)
        return lb_err(err, LABSE_E_INVALID, "labse_mine: unknown retrieval %d", (int)o.retrieval);
    /* the public enums have the internal values */
    _Static_assert((int)LABSE_MARGIN_DISTANCE == (int)LB_MARGIN_DISTANCE &&
                       (int)LABSE_MARGIN_ABSOLUTE == (int)LB_MARGIN_ABSOLUTE &&
                       (int)LABSE_RETRIEVAL_INTERSECT == (int)LB_RETR_INTERSECT &&
                       (int)LABSE_RETRIEVAL_MAX == (int)LB_RETR_MAX,
                   "labse_margin/labse_retrieval mirror lb_margin/lb_retrieval");
    lb_margin margin = (lb_margin)o.margin;
    lb_retrieval retr = (lb_retrieval)o.retrieval;
    double threshold = isnan(o.threshold) ? -INFINITY : o.threshold;

    lb_emb *a = NULL, *b = NULL;
    lb_topk fwd = {0}, bwd = {0};
    lb_pair *lp = NULL;
    size_t n = 0;
    labse_pair *out = NULL;
    labse_status s = lb_emb_wrap((float *)src, ns, dim, 0, "src", &a, err);
    if (s == LABSE_OK) s = lb_emb_wrap((float *)tgt, nt, dim, 0, "tgt", &b, err);
    const lb_knn_backend *kb = NULL;
    if (s == LABSE_OK) s = lb_knn_backend_select(o.device, o.cuda_device, &kb, err);
    if (s == LABSE_OK)
        s = lb_knn_mine_run_on(kb, a, b, o.k, o.block_rows, o.threads, NULL, &fwd, &bwd, err);
    if (s == LABSE_OK) s = lb_mine_pairs(&fwd, &bwd, margin, retr, threshold, &lp, &n, err);
    if (s == LABSE_OK && n) {
        out = malloc(n * sizeof *out);
        if (!out) s = lb_err(err, LABSE_E_NOMEM, "labse_mine: out of memory (%zu pairs)", n);
        for (size_t i = 0; out && i < n; i++) {
            out[i].score = lp[i].score;
            out[i].src = lp[i].src;
            out[i].tgt = lp[i].tgt;
        }
    }
    free(lp);
    lb_topk_free(&fwd);
    lb_topk_free(&bwd);
    lb_emb_free(a);
    lb_emb_free(b);
    if (s != LABSE_OK) return s;
    *pairs = out;
    *n_pairs = n;
    return LABSE_OK;
}

void labse_free(void *p) { free(p); }
