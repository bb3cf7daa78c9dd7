/* pack.c — windows, length bucketing, batch cutting and packing (see pack.h).
 * Pure functions of their arguments: the same window always gives the same batches. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pack.h"

size_t lb_window_cut(const char *const *texts, const size_t *lens, size_t n, size_t window,
                     size_t window_bytes) {
    size_t k = 0, bytes = 0;
    while (k < n) {
        size_t len = lens ? lens[k] : (texts[k] ? strlen(texts[k]) : 0);
        if (len > LB_PIPE_LINE_CAP) len = LB_PIPE_LINE_CAP;
        if (!lb_window_admits(k, bytes, len, window, window_bytes)) break;
        bytes += len;
        k++;
    }
    return k;
}

uint64_t lb_window_limit(uint64_t line, uint64_t window, uint64_t grid) {
    uint64_t limit = window - line % window;
    if (grid && grid - line % grid < limit) limit = grid - line % grid;
    return limit;
}

lb_pack_budget lb_pack_budget_of(int batch_tokens, int max_length) {
    lb_pack_budget b;
    b.tokens = (uint64_t)batch_tokens;
    b.attn = (uint64_t)batch_tokens * (uint64_t)max_length / 2;
    return b;
}

int lb_bucket_order(const int32_t *ntok, size_t n, int max_len, uint32_t *order) {
    /* Counting sort on lengths 0..max_len: O(n + max_len), stable (ties keep input order). */
    size_t *start = calloc((size_t)max_len + 2, sizeof *start);
    if (!start) return -1;
    for (size_t i = 0; i < n; i++) {
        int l = ntok[i] < 0 ? 0 : (ntok[i] > max_len ? max_len : ntok[i]);
        start[l + 1]++;
    }
    for (int l = 0; l <= max_len; l++) start[l + 1] += start[l];
    for (size_t i = 0; i < n; i++) {
        int l = ntok[i] < 0 ? 0 : (ntok[i] > max_len ? max_len : ntok[i]);
        order[start[l]++] = (uint32_t)i;
    }
    free(start);
    return 0;
}

size_t lb_batch_cut(const int32_t *ntok, const uint32_t *order, size_t from, size_t n,
                    uint64_t batch_tokens, uint64_t attn_budget) {
    uint64_t tok = 0, sq = 0;
    size_t k = from;
    while (k < n) {
        uint64_t l = (uint64_t)ntok[order[k]];
        if (k > from && (tok + l > batch_tokens || sq + l * l > attn_budget)) break;
        tok += l;
        sq += l * l;
        k++;
    }
    return k - from;
}

size_t lb_pack_ids(const int32_t *const *ids, const int32_t *ntok, const uint32_t *lines,
                   size_t nb, int32_t *ids_out, int32_t *cu) {
    cu[0] = 0;
    for (size_t q = 0; q < nb; q++) {
        uint32_t li = lines[q];
        int32_t l = ntok[li];
        memcpy(ids_out + cu[q], ids[li], (size_t)l * sizeof *ids_out);
        cu[q + 1] = cu[q] + l;
    }
    return (size_t)cu[nb];
}
