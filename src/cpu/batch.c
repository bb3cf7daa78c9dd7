/* batch.c — validation of a packed, padding-free batch (ids + cu_seqlens) against a model.
 * Shared by every backend, so all of them refuse the same inputs with the same message. */
#include "cpu/encoder.h"

labse_status lb_batch_check(const lb_model *m, const lb_batch *b, labse_error *err) {
    if (!m || !b || (b->n > 0 && (!b->ids || !b->cu_seqlens)) || b->n < 0)
        return lb_err(err, LABSE_E_INVALID, "batch: NULL argument");
    if (b->n == 0) return LABSE_OK;
    if (b->cu_seqlens[0] != 0)
        return lb_err(err, LABSE_E_INVALID, "batch: cu_seqlens[0] is %d, must be 0", b->cu_seqlens[0]);
    for (int s = 0; s < b->n; s++) {
        int L = b->cu_seqlens[s + 1] - b->cu_seqlens[s];
        if (L < 1 || L > m->cfg.max_position)
            return lb_err(err, LABSE_E_INVALID,
                          "batch: sequence %d has length %d (must be 1..%d)", s, L, m->cfg.max_position);
    }
    int T = b->cu_seqlens[b->n];
    for (int t = 0; t < T; t++)
        if (b->ids[t] < 0 || b->ids[t] >= m->cfg.vocab_size)
            return lb_err(err, LABSE_E_INVALID, "batch: token %d has id %d (vocabulary has %d)",
                          t, b->ids[t], m->cfg.vocab_size);
    return LABSE_OK;
}
