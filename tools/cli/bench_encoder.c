/* bench_encoder.c — `labse bench`'s encoder-only phase: the sample is tokenised and packed
 * into batches first (as the streaming encoder packs them: length-sorted windows, the token and
 * attention budgets), then only the backend is timed — the batches go through the pipeline's
 * backend (pinned buffers, the GPU's batches in flight, copies both ways included), so this is
 * the throughput the encoder sustains when the host keeps up: the figure for the GPU targets. */
#include "cli.h"
#include "pipeline/pipe_internal.h"
#include "pipeline/pipeline.h"

#define WINDOW 32768

int bench_encoder(const labse_model *m, const char *const *text, const size_t *len, size_t n,
                  int repeat, int batch_tokens) {
    int rc = EXIT_RUNTIME;
    const int maxlen = labse_model_max_length(m), dim = labse_model_dim(m);
    int32_t *ntok = malloc(n * sizeof *ntok), *all = NULL, *cu = NULL;
    size_t *off = malloc((n + 1) * sizeof *off);
    uint32_t *order = malloc((n ? n : 1) * sizeof *order), *bstart = NULL;
    size_t nb = 0;
    lb_pipe_backend be;
    memset(&be, 0, sizeof be);
    int32_t *ids_s[LB_PIPE_MAX_DEPTH] = {0}, *cu_s[LB_PIPE_MAX_DEPTH] = {0};
    float *out_s[LB_PIPE_MAX_DEPTH] = {0};
    labse_error err = {0};
    if (!ntok || !off || !order) goto oom;
    /* tokenise */
    size_t cap = n * 32 + 1024, used = 0;
    if (!(all = malloc(cap * sizeof *all))) goto oom;
    for (size_t i = 0; i < n; i++) {
        if (used + (size_t)maxlen > cap) {
            cap = cap * 2 + (size_t)maxlen;
            int32_t *a = realloc(all, cap * sizeof *all);
            if (!a) goto oom;
            all = a;
        }
        size_t k = labse_tokenize(m, text[i], len[i], all + used, NULL, &err);
        if (k == 0) {
            errorf("tokenize: %s", err.message);
            goto done;
        }
        off[i] = used;
        ntok[i] = (int32_t)k;
        used += k;
    }
    /* windows sorted by length, batches cut as the pipeline cuts them; packed back to back */
    int32_t *packed = malloc((used ? used : 1) * sizeof *packed);
    cu = malloc((2 * n + 2) * sizeof *cu);   /* per batch: offsets, concatenated */
    bstart = malloc((n + 2) * sizeof *bstart);
    uint32_t *bn = malloc((n + 2) * sizeof *bn);
    if (!packed || !cu || !bstart || !bn) {
        free(packed);
        free(bn);
        goto oom;
    }
    const uint64_t bt = (uint64_t)batch_tokens, attn = bt * (uint64_t)maxlen / 2;
    uint64_t tokens = 0, sq = 0;
    size_t pk = 0, ci = 0, max_b = 0, max_t = 0;
    for (size_t w0 = 0; w0 < n; w0 += WINDOW) {
        size_t wn = n - w0 < WINDOW ? n - w0 : WINDOW;
        if (lb_bucket_order(ntok + w0, wn, maxlen, order) != 0) {
            free(packed);
            free(bn);
            goto oom;
        }
        for (size_t at = 0; at < wn;) {
            size_t k = lb_batch_cut(ntok + w0, order, at, wn, bt, attn);
            bstart[nb] = (uint32_t)ci;
            bn[nb] = (uint32_t)k;
            size_t t0 = pk;
            cu[ci++] = 0;
            for (size_t q = 0; q < k; q++) {
                size_t li = w0 + order[at + q];
                memcpy(packed + pk, all + off[li], (size_t)ntok[li] * sizeof *packed);
                pk += (size_t)ntok[li];
                cu[ci++] = (int32_t)(pk - t0);
                sq += (uint64_t)ntok[li] * (uint64_t)ntok[li];
            }
            if (k > max_b) max_b = k;
            if (pk - t0 > max_t) max_t = pk - t0;
            nb++;
            at += k;
        }
    }
    tokens = pk;
    free(all);
    all = packed;
    labse_status s = lb_pipe_backend_for(m, &be, &err);
    if (s != LABSE_OK) {
        errorf("backend: %s", err.message);
        free(bn);
        goto done;
    }
    for (int k = 0; k < be.depth; k++) {
        ids_s[k] = be.host_alloc(be.ctx, max_t * sizeof(int32_t));
        cu_s[k] = be.host_alloc(be.ctx, (max_b + 1) * sizeof(int32_t));
        out_s[k] = be.host_alloc(be.ctx, max_b * (size_t)dim * sizeof(float));
        if (!ids_s[k] || !cu_s[k] || !out_s[k]) {
            free(bn);
            goto oom;
        }
    }
    double best = 1e300, busy = 0, span = 0;
    for (int r = 0; r <= repeat; r++) { /* run 0 warms up (allocation, algorithm choice) */
        double t0 = now_s();
        size_t tok_at = 0;
        for (size_t j = 0; j < nb; j++) {
            int k = (int)(j % (size_t)be.depth);
            if (j >= (size_t)be.depth && (s = be.wait(be.ctx, k, &err)) != LABSE_OK) break;
            const int32_t *c = cu + bstart[j];
            size_t T = (size_t)c[bn[j]];
            memcpy(ids_s[k], all + tok_at, T * sizeof(int32_t));
            memcpy(cu_s[k], c, (bn[j] + 1) * sizeof(int32_t));
            tok_at += T;
            if ((s = be.submit(be.ctx, k, ids_s[k], cu_s[k], (int)bn[j], out_s[k], &err)) != LABSE_OK)
                break;
        }
        for (int k = 0; k < be.depth && s == LABSE_OK; k++) s = be.wait(be.ctx, k, &err);
        if (s != LABSE_OK) {
            errorf("encode: %s", err.message);
            free(bn);
            goto done;
        }
        double dt = now_s() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    if (be.timing) be.timing(be.ctx, &busy, &span);
    free(bn);
    if (best <= 0) best = 1e-9;
    printf("encoder (%s, packed batches, %d in flight, batch_tokens %d, best of %d after a "
           "warm-up):\n", be.name, be.depth, batch_tokens, repeat);
    printf("  sentences: %zu\n  tokens: %" PRIu64 "\n  batches: %zu\n  sum_len_sq: %" PRIu64 "\n",
           n, tokens, nb, sq);
    printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.1f\n", best,
           (double)tokens / best, (double)n / best);
    if (span > 0) printf("  device_busy_fraction: %.3f\n", busy / span);
    rc = 0;
    goto done;
oom:
    errorf("bench: out of memory");
done:
    for (int k = 0; k < LB_PIPE_MAX_DEPTH; k++) {
        if (ids_s[k]) be.host_free(be.ctx, ids_s[k]);
        if (cu_s[k]) be.host_free(be.ctx, cu_s[k]);
        if (out_s[k]) be.host_free(be.ctx, out_s[k]);
    }
    if (be.destroy) be.destroy(be.ctx);
    free(ntok);
    free(off);
    free(order);
    free(all);
    free(cu);
    free(bstart);
    return rc;
}
