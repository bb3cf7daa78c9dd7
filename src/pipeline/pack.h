/* pack.h — the batch packer: how texts become windows, windows become length-sorted batches,
 * and batches become packed ids. The one place for these rules; the streaming pipeline
 * (pipeline.c, pipe_tokpool.c), labse_encode (api/labse.c) and the encoder benchmark
 * (api/api_bench.c) all call it, so the same texts and options give the same windows, the
 * same batches in the same order, hence the same bytes.
 *
 *   window  consecutive texts: at most `limit` of them (the pipeline: up to the next global
 *           multiple of the window and of the part rows; labse_encode: `window` from the
 *           window's first text), and past the first text at most window_bytes bytes of text
 *           (a text counted at most LB_PIPE_LINE_CAP bytes). lb_window_admits is the rule.
 *   order   inside a window, texts by token count ascending, ties by index (stable counting
 *           sort): lb_bucket_order.
 *   batch   cut from the order when the next text would exceed the token budget or the
 *           attention budget Σ len² ≤ batch_tokens × max_length / 2 (lb_pack_budget: the one
 *           place of that formula); a single text always fits: lb_batch_cut.
 *   pack    ids of a batch back to back + cu_seqlens, into caller buffers: lb_pack_ids.
 *
 * All functions are pure functions of their arguments (no global state): thread-safe.
 * Internal (names start with lb_); not part of include/labse.h. */
#ifndef LB_PACK_H
#define LB_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"

/* A line longer than this many bytes is cut before tokenisation (see pipeline.h); a text
 * counts at most this many bytes towards a window's window_bytes. The public value. */
#define LB_PIPE_LINE_CAP LABSE_LINE_CAP

/* Text bytes per window: the default of the pipeline, and labse_encode's. */
#define LB_WINDOW_BYTES ((size_t)64 << 20)

/* ---- windows ---------------------------------------------------------------------------- */

/* 1 when a text of len bytes (already capped) joins a window holding n texts of `bytes`
 * bytes, given at most `limit` texts and window_bytes bytes per window; 0: the window ends
 * before it. A window's first text always joins (when limit >= 1). */
static inline int lb_window_admits(size_t n, size_t bytes, size_t len, size_t limit,
                                   size_t window_bytes) {
    if (n >= limit) return 0;
    return n == 0 || bytes + len <= window_bytes;
}

/* Texts in the window starting at texts[0] (n > 0 texts left; lens NULL: NUL-terminated, a
 * NULL text is empty): the longest prefix lb_window_admits, with limit `window` and each
 * text counted min(len, LB_PIPE_LINE_CAP). Returns 1..min(n, window). */
size_t lb_window_cut(const char *const *texts, const size_t *lens, size_t n, size_t window,
                     size_t window_bytes);

/* Lines from global line index `line` to the next window end of the pipeline's grid: the
 * next global multiple of `window` or of `grid` (0: no grid). window >= 1. */
uint64_t lb_window_limit(uint64_t line, uint64_t window, uint64_t grid);

/* ---- batches ---------------------------------------------------------------------------- */

/* The budgets of one batch. */
typedef struct lb_pack_budget {
    uint64_t tokens;           /* Σ len ≤ tokens */
    uint64_t attn;             /* Σ len² ≤ attn */
} lb_pack_budget;

/* The budgets for a token budget and the effective max tokens per text:
 * tokens = batch_tokens, attn = batch_tokens × max_length / 2. */
lb_pack_budget lb_pack_budget_of(int batch_tokens, int max_length);

/* order[0..n): indices sorted by ntok ascending, ties by index (stable counting sort;
 * lengths 0..max_len, clamped). Returns 0, -1 when out of memory. */
int lb_bucket_order(const int32_t *ntok, size_t n, int max_len, uint32_t *order);

/* Length of the next batch starting at order[from] (from < n): as many texts as fit in
 * batch_tokens tokens and attn_budget Σ len² (at least 1). */
size_t lb_batch_cut(const int32_t *ntok, const uint32_t *order, size_t from, size_t n,
                    uint64_t batch_tokens, uint64_t attn_budget);

/* The next batch of a sorted window: lb_batch_cut with budget b, capped at max_seq
 * sequences (max_seq >= 1). */
static inline size_t lb_pack_next(const int32_t *ntok, const uint32_t *order, size_t from,
                                  size_t n, lb_pack_budget b, size_t max_seq) {
    size_t k = lb_batch_cut(ntok, order, from, n, b.tokens, b.attn);
    return k < max_seq ? k : max_seq;
}

/* Pack the nb texts lines[0..nb) (indices into ids/ntok) back to back: ids_out[Σ ntok],
 * cu[nb + 1] with cu[0] = 0. ids[i] points to text i's ntok[i] ids. Returns Σ ntok. The
 * caller sizes the buffers (Σ ntok ≤ the token budget, or max_length for a single text). */
size_t lb_pack_ids(const int32_t *const *ids, const int32_t *ntok, const uint32_t *lines,
                   size_t nb, int32_t *ids_out, int32_t *cu);

#endif
