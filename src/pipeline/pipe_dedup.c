/* pipe_dedup.c — exact deduplication of lines (issue 12, section 4; see pipe_internal.h,
 * "Deduplication"): a bounded table of the last distinct lines, keyed by XXH3_64bits of their
 * bytes and confirmed by comparing the bytes, so that a 64-bit collision never makes two
 * different lines share a row.
 *
 * Layout: `slots` entries used round-robin in insertion order (entry serial s lives in slot
 * s % slots), so the oldest entry is always the next to go; their texts in a ring arena of
 * `text_bytes` bytes, addressed by a position that only grows (a text never straddles the
 * arena's end: it starts at the next multiple of text_bytes instead); a chained hash index
 * (heads[] of a power of two >= 2 × slots buckets, next[] per slot). */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "pipeline/pipe_internal.h"

typedef struct dd_entry {
    uint64_t hash;             /* XXH3_64bits of the text */
    uint64_t pos;              /* arena position of the text (grows; index pos % text_bytes) */
    uint32_t len;              /* text bytes */
    int32_t next;              /* next slot in the same bucket, -1: none */
} dd_entry;

struct lb_dedup {
    size_t slots, text_bytes, nb; /* nb buckets, a power of two */
    dd_entry *e;               /* [slots] */
    int32_t *heads;            /* [nb] first slot of each bucket, -1: empty */
    char *arena;               /* [text_bytes] */
    uint64_t ins;              /* serial of the next entry */
    uint64_t oldest;           /* serial of the oldest live entry (== ins: none) */
    uint64_t pos;              /* arena position after the newest text */
};

labse_status lb_dedup_new(size_t slots, size_t text_bytes, lb_dedup **out, labse_error *err) {
    *out = NULL;
    if (slots < 1 || slots > LB_DEDUP_MAX_SLOTS || text_bytes < 1)
        return lb_err(err, LABSE_E_INVALID, "dedup_table %zu not in 1..%u", slots,
                      (unsigned)LB_DEDUP_MAX_SLOTS);
    lb_dedup *d = calloc(1, sizeof *d);
    if (!d) return lb_err(err, LABSE_E_NOMEM, "out of memory for the dedup table");
    d->slots = slots;
    d->text_bytes = text_bytes;
    d->nb = 2;
    while (d->nb < 2 * slots) d->nb *= 2;
    d->e = malloc(slots * sizeof *d->e);
    d->heads = malloc(d->nb * sizeof *d->heads);
    d->arena = malloc(text_bytes);
    if (!d->e || !d->heads || !d->arena) {
        lb_dedup_free(d);
        return lb_err(err, LABSE_E_NOMEM, "out of memory for the dedup table (%zu lines, %zu "
                      "bytes of text)", slots, text_bytes);
    }
    lb_dedup_reset(d);
    *out = d;
    return LABSE_OK;
}

void lb_dedup_free(lb_dedup *d) {
    if (!d) return;
    free(d->e);
    free(d->heads);
    free(d->arena);
    free(d);
}

void lb_dedup_reset(lb_dedup *d) {
    memset(d->heads, 0xff, d->nb * sizeof *d->heads); /* all -1 */
    d->oldest = d->ins;
}

/* Forget the oldest live entry: unlink its slot from its bucket's chain. */
static void evict_oldest(lb_dedup *d) {
    int32_t t = (int32_t)(d->oldest % d->slots);
    int32_t *link = &d->heads[d->e[t].hash & (d->nb - 1)];
    while (*link != t) link = &d->e[*link].next; /* t is in its chain: it is live */
    *link = d->e[t].next;
    d->oldest++;
}

uint32_t lb_dedup_line(lb_dedup *d, const char *p, size_t len) {
    const uint64_t h = XXH3_64bits(p, len);
    const size_t b = (size_t)(h & (d->nb - 1));
    for (int32_t t = d->heads[b]; t >= 0; t = d->e[t].next) {
        const dd_entry *x = &d->e[t];
        if (x->hash == h && x->len == len &&
            (len == 0 || memcmp(d->arena + x->pos % d->text_bytes, p, len) == 0))
            return ((uint32_t)t << 2) | LB_DEDUP_COPY;
    }
    if (len > d->text_bytes) return LB_DEDUP_NONE; /* cannot be remembered: encoded */
    uint64_t at = d->pos;
    if (at % d->text_bytes + len > d->text_bytes) at += d->text_bytes - at % d->text_bytes;
    /* Room: a free slot, and the texts of the live entries within text_bytes of the end. */
    while (d->oldest < d->ins &&
           (d->ins - d->oldest >= d->slots ||
            at + len - d->e[d->oldest % d->slots].pos > d->text_bytes))
        evict_oldest(d);
    const int32_t t = (int32_t)(d->ins % d->slots);
    dd_entry *x = &d->e[t];
    x->hash = h;
    x->pos = at;
    x->len = (uint32_t)len;
    x->next = d->heads[b];
    d->heads[b] = t;
    if (len) memcpy(d->arena + at % d->text_bytes, p, len);
    d->pos = at + len;
    d->ins++;
    return ((uint32_t)t << 2) | LB_DEDUP_NEW;
}

void lb_dedup_apply(const uint32_t *codes, size_t n, size_t dim, float *rows, float *store) {
    for (size_t i = 0; i < n; i++) {
        const uint32_t kind = codes[i] & 3u;
        float *slot = store + (size_t)(codes[i] >> 2) * dim, *row = rows + i * dim;
        if (kind == LB_DEDUP_NEW)
            memcpy(slot, row, dim * sizeof *row);
        else if (kind == LB_DEDUP_COPY)
            memcpy(row, slot, dim * sizeof *row);
    }
}
