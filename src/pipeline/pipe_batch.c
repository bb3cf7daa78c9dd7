/* pipe_batch.c — length bucketing and batch cutting (see pipe_internal.h, pipeline.h).
 * Pure functions of their arguments: the same window always gives the same batches. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipe_internal.h"

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
