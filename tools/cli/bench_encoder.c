/* bench_encoder.c — `labse bench`'s encoder-only phase: prints what labse_bench_encoder
 * (include/labse.h) measured — the sample tokenised and packed first as the streaming
 * encoder packs it, then only the backend timed (pinned buffers, the GPU's batches in flight,
 * copies both ways included): the throughput the encoder sustains when the host keeps up. */
#include "cli.h"

int bench_encoder(const labse_model *m, const char *const *text, const size_t *len, size_t n,
                  int repeat, int batch_tokens) {
    labse_bench_result r;
    labse_error err = {0};
    (void)batch_tokens; /* the model's option: reported back in r.batch_tokens */
    if (labse_bench_encoder(m, text, len, n, repeat, &r, &err) != LABSE_OK) {
        errorf("%s", err.message);
        return EXIT_RUNTIME;
    }
    double best = r.seconds > 0 ? r.seconds : 1e-9;
    printf("encoder (%s, packed batches, %d in flight, batch_tokens %d, best of %d after a "
           "warm-up):\n", r.backend, r.in_flight, r.batch_tokens, repeat);
    printf("  sentences: %zu\n  tokens: %" PRIu64 "\n  batches: %" PRIu64 "\n  sum_len_sq: %" PRIu64 "\n",
           n, r.tokens, r.batches, r.sum_len_sq);
    printf("  seconds: %.4f\n  tokens_per_s: %.0f\n  sentences_per_s: %.1f\n", best,
           (double)r.tokens / best, (double)n / best);
    if (r.device_span_s > 0) printf("  device_busy_fraction: %.3f\n", r.device_busy_s / r.device_span_s);
    return 0;
}
