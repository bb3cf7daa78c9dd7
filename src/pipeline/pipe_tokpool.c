/* pipe_tokpool.c — window slots, the reader thread and the tokenizer threads.
 *
 * Slots cycle FREE → FILLING (reader thread copies lines in) → TOKENISING (workers) → READY
 * → TAKEN (consumer) → FREE, in input order (slot i % LB_PIPE_SLOTS holds window i).
 * Locking: one mutex + condition variables, taken once per window transition and once per
 * worker per window; inside a window, workers claim chunks of LB_PIPE_CHUNK lines with an
 * atomic counter and write only their chunks' entries, so the per-line hot path takes no
 * lock. The last worker to finish a chunk (atomic countdown) marks the slot READY.
 *
 * Memory per slot: window_bytes of text, window × 29 bytes of bookkeeping (33 with --dedup:
 * a duplicate's text is neither copied nor tokenised), and the ids in
 * one growable buffer per chunk (compact: the tokens of the chunk's lines back to back;
 * grown, never shrunk, so after the first windows no allocation happens). */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/pipe_internal.h"

typedef enum { SLOT_FREE, SLOT_FILLING, SLOT_TOKENISING, SLOT_READY, SLOT_TAKEN } slot_state;

typedef struct slot {
    lb_window w;               /* what the consumer sees (points into the arrays below) */
    slot_state state;
    uint64_t seq;              /* window number */
    char *text;                /* [window_bytes] line bytes back to back */
    size_t *off;               /* [window] text offset of each line */
    uint32_t *len;             /* [window] byte length */
    uint8_t *capped;           /* [window] bit 0: capped; bit 1: a bad record, encoded empty */
    uint32_t *dd;              /* [window] dedup codes (pipe_internal.h), NULL without dedup */
    int32_t **cbuf;            /* [n chunks] ids of the chunk's lines back to back */
    size_t *ccap;              /* [n chunks] capacity of cbuf[c] in ids */
    const int32_t **ids;       /* [window] */
    int32_t *ntok;             /* [window] */
    atomic_size_t next_chunk;  /* next chunk to claim */
    atomic_size_t chunks_left; /* chunks not finished */
    size_t n_chunks;
    size_t n_alloc_chunks;     /* entries of cbuf/ccap */
    atomic_uint_fast64_t tokens, truncated, repaired;
} slot;

struct lb_tokpool {
    lb_tokpool_config c;
    int max_len;
    lb_reader *reader;
    slot slots[LB_PIPE_SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t cv;         /* any state change (few per window: broadcast is fine) */
    pthread_t reader_thread;
    pthread_t *workers;
    int n_workers, reader_started;
    uint64_t next_fill;        /* window the reader fills next */
    uint64_t next_take;        /* window the consumer takes next */
    uint64_t n_windows;        /* set when the reader has published the last window */
    int input_done;            /* reader finished (n_windows valid) */
    int quit;                  /* stop everything */
    labse_status status;       /* first error */
    labse_error err;
    double tok_seconds;        /* summed, under mu */
    /* reader thread only */
    uint64_t read_line;        /* global index of the next line the reader returns */
    uint64_t since_cut;        /* lines read since the last part hash was taken */
    struct {
        uint64_t end_line;     /* the part ends before this global line */
        char hex[65];
    } cuts[4];                 /* part hashes taken, not yet given to their window (at most
                                  2: the read-ahead line may end the next part) */
    int n_cuts;
};

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void set_error(lb_tokpool *p, const labse_error *e) {
    /* under p->mu */
    if (p->status == LABSE_OK) {
        p->status = e->status;
        p->err = *e;
    }
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
}

/* ------------------------------------------------------------------------------------------
 * Reader thread: fill slots with lines; a window ends at a grid line (global multiples of
 * `window` and of `grid`), at `window_bytes` bytes of text, or at the end of input.
 * ------------------------------------------------------------------------------------------ */

/* Take the hash of the bytes since the last cut: the part ending before line p->read_line. */
static void cut_part(lb_tokpool *p) {
    if (p->n_cuts == (int)(sizeof p->cuts / sizeof p->cuts[0])) return; /* cannot happen */
    p->cuts[p->n_cuts].end_line = p->read_line;
    lb_reader_part_sha256(p->reader, p->cuts[p->n_cuts].hex);
    p->n_cuts++;
    p->since_cut = 0;
}

/* The next line as the windows see it: the line, or the text of its record (structured
 * input; a bad one as an empty text with *bad = 1 when the run says so, else an error naming
 * the file and line); the part hash taken after each part's last line. Returns as
 * lb_reader_next. Reader thread. */
static int next_text(lb_tokpool *p, const char **q, size_t *len, int *capped, int *bad,
                     labse_error *e) {
    const lb_tokpool_config *c = &p->c;
    *bad = 0;
    int r = lb_reader_next(p->reader, q, len, capped, e);
    if (r == 0 && c->hash_parts && p->since_cut > 0) cut_part(p);
    if (r <= 0) return r;
    uint64_t ln = p->read_line++;
    p->since_cut++;
    if (c->hash_parts && c->grid && p->read_line % c->grid == 0) cut_part(p);
    if (!c->recx) return 1;
    char why[160];
    const char *t;
    size_t tl;
    int x = lb_recx_get(c->recx, *q, *len, &t, &tl, why, sizeof why);
    if (x < 0) {
        lb_err(e, LABSE_E_NOMEM, "%s: line %" PRIu64 ": out of memory", c->name, ln + 1);
        return -1;
    }
    if (x == 0 && !c->bad_record_empty) {
        lb_err(e, LABSE_E_FORMAT, "%s: line %" PRIu64 ": bad record: %s", c->name, ln + 1, why);
        return -1;
    }
    *q = x ? t : "";
    *len = x ? tl : 0;
    *bad = !x;
    return 1;
}

static void *reader_main(void *arg) {
    lb_tokpool *p = arg;
    const lb_tokpool_config *c = &p->c;
    uint64_t line = c->first_line;
    /* A line read but not yet placed (did not fit in the previous window's text). */
    const char *pend = NULL;
    size_t pend_len = 0;
    int pend_capped = 0, pend_bad = 0, have_pend = 0, at_end = 0;
    uint64_t pend_end = 0;                             /* input offset after `pend` */
    uint64_t placed_end = lb_reader_offset(p->reader); /* after the last line placed */
    labse_error e;
    lb_err_clear(&e);
    for (uint64_t seq = 0;; seq++) {
        slot *s = &p->slots[seq % LB_PIPE_SLOTS];
        pthread_mutex_lock(&p->mu);
        while (!p->quit && s->state != SLOT_FREE) pthread_cond_wait(&p->cv, &p->mu);
        int quit = p->quit;
        if (!quit) s->state = SLOT_FILLING;
        pthread_mutex_unlock(&p->mu);
        if (quit) return NULL;

        /* Windows end on a global grid (multiples of window and of the part rows), so the
         * batches do not depend on where a run, a resumed run or a shard started. */
        uint64_t limit = lb_window_limit(line, c->window, c->grid);
        size_t n = 0, tlen = 0, wbytes = 0; /* text held; text the window rule counts */
        uint64_t dups = 0;
        if (c->dedup && c->grid && line % c->grid == 0) lb_dedup_reset(c->dedup); /* a part */
        s->w.byte_start = placed_end;
        while (!at_end) {
            if (!have_pend) {
                int r = next_text(p, &pend, &pend_len, &pend_capped, &pend_bad, &e);
                if (r < 0) {
                    pthread_mutex_lock(&p->mu);
                    set_error(p, &e);
                    pthread_mutex_unlock(&p->mu);
                    return NULL;
                }
                if (r == 0) {
                    at_end = 1;
                    break;
                }
                have_pend = 1;
                pend_end = lb_reader_offset(p->reader);
            }
            if (!lb_window_admits(n, wbytes, pend_len, (size_t)limit, c->window_bytes))
                break; /* next window */
            wbytes += pend_len; /* duplicates count too: the windows do not depend on dedup */
            uint32_t code = c->dedup ? lb_dedup_line(c->dedup, pend, pend_len) : LB_DEDUP_NONE;
            if (s->dd) s->dd[n] = code;
            int dup = (code & 3u) == LB_DEDUP_COPY;
            dups += (uint64_t)dup;
            if (!dup) memcpy(s->text + tlen, pend, pend_len);
            s->off[n] = tlen;
            s->len[n] = dup ? 0 : (uint32_t)pend_len;
            s->capped[n] = (uint8_t)((pend_capped ? 1 : 0) | (pend_bad ? 2 : 0));
            tlen += pend_len;
            n++;
            have_pend = 0;
            placed_end = pend_end;
        }
        s->w.byte_end = placed_end;
        s->w.first_line = line;
        s->w.n = n;
        s->w.duplicates = dups;
        line += n;
        s->n_chunks = (n + LB_PIPE_CHUNK - 1) / LB_PIPE_CHUNK;
        atomic_store(&s->next_chunk, 0);
        atomic_store(&s->chunks_left, s->n_chunks);
        atomic_store(&s->tokens, 0);
        atomic_store(&s->truncated, 0);
        atomic_store(&s->repaired, 0);
        uint64_t capped = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
            capped += s->capped[i] & 1;
            bad += s->capped[i] >> 1;
        }
        s->w.capped = capped;
        s->w.bad_records = bad;
        /* Peek whether input continues, so `last` is exact. */
        if (!have_pend && !at_end) {
            int r = next_text(p, &pend, &pend_len, &pend_capped, &pend_bad, &e);
            if (r < 0) {
                pthread_mutex_lock(&p->mu);
                set_error(p, &e);
                pthread_mutex_unlock(&p->mu);
                return NULL;
            }
            if (r == 0) {
                at_end = 1;
            } else {
                have_pend = 1;
                pend_end = lb_reader_offset(p->reader);
            }
        }
        s->w.last = at_end && !have_pend;
        /* The part hash of a window that ends a part (its last line was read: taken). */
        s->w.part_sha256[0] = '\0';
        if (p->n_cuts > 0 && p->cuts[0].end_line == line) {
            memcpy(s->w.part_sha256, p->cuts[0].hex, sizeof s->w.part_sha256);
            memmove(&p->cuts[0], &p->cuts[1], (size_t)(p->n_cuts - 1) * sizeof p->cuts[0]);
            p->n_cuts--;
        }
        s->seq = seq;
        pthread_mutex_lock(&p->mu);
        s->state = s->n_chunks ? SLOT_TOKENISING : SLOT_READY;
        if (s->w.last) {
            p->input_done = 1;
            p->n_windows = seq + 1;
        }
        p->next_fill = seq + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (s->w.last) return NULL;
    }
}

/* ------------------------------------------------------------------------------------------
 * Tokenizer threads
 * ------------------------------------------------------------------------------------------ */

/* Tokenise the lines of one chunk into its buffer (scratch: max_length ids of this thread).
 * Returns 0, or -1 when out of memory (e is filled). */
static int tokenise_chunk(lb_tokpool *p, slot *s, size_t chunk, int32_t *scratch, double *secs,
                          labse_error *e) {
    double t0 = cpu_now();
    size_t a = chunk * LB_PIPE_CHUNK, b = a + LB_PIPE_CHUNK;
    if (b > s->w.n) b = s->w.n;
    uint64_t tokens = 0, trunc = 0, rep = 0;
    size_t used = 0;
    for (size_t i = a; i < b; i++) {
        if (s->dd && (s->dd[i] & 3u) == LB_DEDUP_COPY) { /* a duplicate: not encoded */
            s->ntok[i] = 0;
            continue;
        }
        labse_tok_info info = {0, 0};
        size_t k = lb_engine_tokenize(p->c.engine, s->text + s->off[i], s->len[i], scratch, &info);
        if (k == 0) {
            lb_err(e, LABSE_E_NOMEM, "out of memory (tokenizer)");
            return -1;
        }
        if (used + k > s->ccap[chunk]) {
            size_t cap = s->ccap[chunk] ? s->ccap[chunk] : 1024;
            while (cap < used + k) cap *= 2;
            int32_t *nb = realloc(s->cbuf[chunk], cap * sizeof *nb);
            if (!nb) {
                lb_err(e, LABSE_E_NOMEM, "out of memory for token ids");
                return -1;
            }
            s->cbuf[chunk] = nb;
            s->ccap[chunk] = cap;
        }
        memcpy(s->cbuf[chunk] + used, scratch, k * sizeof *scratch);
        s->ntok[i] = (int32_t)k;
        used += k;
        tokens += k;
        trunc += info.truncated != 0;
        rep += info.repaired != 0;
    }
    used = 0; /* pointers only now: realloc may have moved the buffer */
    for (size_t i = a; i < b; i++) {
        s->ids[i] = s->ntok[i] ? s->cbuf[chunk] + used : NULL;
        used += (size_t)s->ntok[i];
    }
    atomic_fetch_add(&s->tokens, tokens);
    atomic_fetch_add(&s->truncated, trunc);
    atomic_fetch_add(&s->repaired, rep);
    *secs += cpu_now() - t0;
    return 0;
}

static void *worker_main(void *arg) {
    lb_tokpool *p = arg;
    double secs = 0;
    labse_error e;
    lb_err_clear(&e);
    int32_t *scratch = malloc((size_t)p->max_len * sizeof *scratch);
    pthread_mutex_lock(&p->mu);
    if (!scratch) {
        lb_err(&e, LABSE_E_NOMEM, "out of memory for a tokenizer thread");
        set_error(p, &e);
    }
    for (;;) {
        /* The oldest slot with unclaimed chunks. */
        slot *s = NULL;
        for (uint64_t q = p->next_take; q < p->next_fill && !s; q++) {
            slot *c = &p->slots[q % LB_PIPE_SLOTS];
            if (c->state == SLOT_TOKENISING && atomic_load(&c->next_chunk) < c->n_chunks) s = c;
        }
        if (p->quit) break;
        if (!s) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        for (;;) { /* lock-free chunk claims */
            size_t ch = atomic_fetch_add(&s->next_chunk, 1);
            if (ch >= s->n_chunks) break;
            if (tokenise_chunk(p, s, ch, scratch, &secs, &e) != 0) {
                pthread_mutex_lock(&p->mu);
                set_error(p, &e);
                pthread_mutex_unlock(&p->mu);
                break;
            }
            if (atomic_fetch_sub(&s->chunks_left, 1) == 1) {
                pthread_mutex_lock(&p->mu);
                s->state = SLOT_READY;
                pthread_cond_broadcast(&p->cv);
                pthread_mutex_unlock(&p->mu);
            }
        }
        pthread_mutex_lock(&p->mu);
    }
    p->tok_seconds += secs;
    pthread_mutex_unlock(&p->mu);
    free(scratch);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
 * Consumer side
 * ------------------------------------------------------------------------------------------ */

static void slot_free(slot *s) {
    free(s->text);
    free(s->off);
    free(s->len);
    free(s->capped);
    free(s->dd);
    size_t nch = s->cbuf ? s->n_alloc_chunks : 0;
    for (size_t c = 0; c < nch; c++) free(s->cbuf[c]);
    free(s->cbuf);
    free(s->ccap);
    free(s->ids);
    free(s->ntok);
}

labse_status lb_tokpool_start(const lb_tokpool_config *c, lb_reader *r, lb_tokpool **out,
                              labse_error *err) {
    lb_tokpool *p = calloc(1, sizeof *p);
    if (!p) {
        lb_reader_free(r);
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    p->c = *c;
    p->reader = r;
    p->read_line = c->first_line;
    if (c->hash_parts) lb_reader_hash_parts(r);
    p->max_len = lb_engine_max_length(c->engine);
    if (c->window < 1 || c->window > UINT32_MAX || c->window_bytes < 2 * LB_PIPE_LINE_CAP ||
        c->threads < 1 || p->max_len < 2) {
        lb_reader_free(r);
        free(p);
        return lb_err(err, LABSE_E_INVALID, "tokenizer pool: bad window/threads settings");
    }
    for (int i = 0; i < LB_PIPE_SLOTS; i++) {
        slot *s = &p->slots[i];
        size_t W = c->window;
        s->text = malloc(c->window_bytes);
        s->off = malloc(W * sizeof *s->off);
        s->len = malloc(W * sizeof *s->len);
        s->capped = malloc(W);
        s->n_alloc_chunks = (W + LB_PIPE_CHUNK - 1) / LB_PIPE_CHUNK;
        s->cbuf = calloc(s->n_alloc_chunks, sizeof *s->cbuf);
        s->ccap = calloc(s->n_alloc_chunks, sizeof *s->ccap);
        s->ids = malloc(W * sizeof *s->ids);
        s->ntok = malloc(W * sizeof *s->ntok);
        s->dd = c->dedup ? malloc(W * sizeof *s->dd) : NULL;
        if ((c->dedup && !s->dd) || !s->text || !s->off || !s->len || !s->capped || !s->cbuf || !s->ccap || !s->ids || !s->ntok) {
            for (int j = 0; j <= i; j++) slot_free(&p->slots[j]);
            lb_reader_free(r);
            free(p);
            return lb_err(err, LABSE_E_NOMEM, "out of memory for window buffers (window %zu)",
                          W);
        }
        s->w.ids = s->ids;
        s->w.ntok = s->ntok;
        s->w.dedup = s->dd;
        s->state = SLOT_FREE;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->workers = calloc((size_t)c->threads, sizeof *p->workers);
    labse_status st = LABSE_OK;
    if (!p->workers) {
        st = lb_err(err, LABSE_E_NOMEM, "out of memory");
    } else if (pthread_create(&p->reader_thread, NULL, reader_main, p) != 0) {
        st = lb_err(err, LABSE_E_NOMEM, "cannot start the reader thread");
    } else {
        p->reader_started = 1;
        for (int i = 0; i < c->threads; i++) {
            if (pthread_create(&p->workers[i], NULL, worker_main, p) != 0) {
                st = lb_err(err, LABSE_E_NOMEM, "cannot start tokenizer thread %d", i);
                break;
            }
            p->n_workers++;
        }
    }
    if (st != LABSE_OK) {
        lb_tokpool_finish(p, NULL, NULL);
        return st;
    }
    *out = p;
    return LABSE_OK;
}

lb_window *lb_tokpool_next(lb_tokpool *p) {
    pthread_mutex_lock(&p->mu);
    slot *s = &p->slots[p->next_take % LB_PIPE_SLOTS];
    for (;;) {
        if (p->quit) break;
        if (p->input_done && p->next_take >= p->n_windows) break;
        if (p->next_take < p->next_fill && s->state == SLOT_READY) {
            s->state = SLOT_TAKEN;
            s->w.tokens = atomic_load(&s->tokens);
            s->w.truncated = atomic_load(&s->truncated);
            s->w.repaired = atomic_load(&s->repaired);
            pthread_mutex_unlock(&p->mu);
            return &s->w;
        }
        pthread_cond_wait(&p->cv, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

void lb_tokpool_release(lb_tokpool *p, lb_window *w) {
    slot *s = (slot *)((char *)w - offsetof(slot, w));
    pthread_mutex_lock(&p->mu);
    s->state = SLOT_FREE;
    p->next_take++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

labse_status lb_tokpool_finish(lb_tokpool *p, double *tok_cpu_seconds, labse_error *err) {
    if (!p) return LABSE_OK;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (p->reader_started) pthread_join(p->reader_thread, NULL);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->workers[i], NULL);
    labse_status st = p->status;
    if (st != LABSE_OK && err) *err = p->err;
    if (tok_cpu_seconds) *tok_cpu_seconds = p->tok_seconds;
    for (int i = 0; i < LB_PIPE_SLOTS; i++) slot_free(&p->slots[i]);
    free(p->workers);
    lb_reader_free(p->reader);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
    return st;
}
