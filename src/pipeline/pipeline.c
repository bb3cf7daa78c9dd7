/* pipeline.c — the scheduler of the streaming encoder (see pipeline.h): set up the input
 * range and the output (fresh, resumed or refused), then take tokenised windows in order,
 * bucket them by length, cut batches, run them through the backend's in-flight ring, put the
 * rows back in input order, and write them (one .npy, or parts + manifest). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/pipe_internal.h"
#include "io/decomp.h"

lb_pipe_options lb_pipe_default_options(void) {
    lb_pipe_options o;
    memset(&o, 0, sizeof o);
    o.format = LB_Q_F32;
    o.window = 0; /* the engine's */
    o.window_bytes = LB_WINDOW_BYTES;
    o.part_rows = 1000000;
    o.shard_index = 0;
    o.shard_count = 1;
    o.progress_interval = 0.5;
    return o;
}

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ==========================================================================================
 * Output folder: fresh, resumed or refused
 * ========================================================================================== */

/* Expected byte size of a part file. */
static uint64_t part_bytes(const lb_manifest *m, uint64_t rows) {
    char hdr[LB_NPY_HEADER_MAX];
    uint64_t cols = lb_qformat_cols(m->qformat, (uint64_t)m->dim);
    size_t hl = lb_npy_header(hdr, m->dtype, rows, cols);
    return hl + rows * cols * lb_npy_dtype_size(m->dtype);
}

/* Remove "NAME.tmp.PID" leftovers of killed runs from dir. */
static void remove_stale_tmp(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strstr(e->d_name, ".tmp.") && (strncmp(e->d_name, "part-", 5) == 0 ||
                                           strncmp(e->d_name, "manifest.json", 13) == 0)) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            (void)unlink(p);
        }
    }
    closedir(d);
}

#define DIFF_U64(field, label)                                                             \
    if (old->field != want->field)                                                         \
        return lb_err(err, LABSE_E_INVALID,                                                \
                      "%s: cannot resume: %s differs (folder: %" PRIu64 ", now: %" PRIu64  \
                      "); use another folder or remove this one",                          \
                      dir, label, (uint64_t)old->field, (uint64_t)want->field)

/* Check that the folder's manifest `old` describes the same run as `want`. */
static labse_status same_run(const char *dir, const lb_manifest *old, const lb_manifest *want,
                             labse_error *err) {
    if (!want->fingerprint[0])
        return lb_err(err, LABSE_E_INVALID,
                      "%s: holds an incomplete run; resuming needs a regular input file (stdin "
                      "cannot be checked); use another folder or remove this one",
                      dir);
    if (old->input_size != want->input_size || strcmp(old->fingerprint, want->fingerprint) != 0)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: cannot resume: the input changed (folder: %s, %" PRIu64
                      " bytes, fingerprint %.16s...; now: %s, %" PRIu64
                      " bytes, fingerprint %.16s...); use another folder or remove this one",
                      dir, old->input_path, old->input_size,
                      old->fingerprint[0] ? old->fingerprint : "none", want->input_path,
                      want->input_size, want->fingerprint);
    if (strcmp(old->model, want->model) != 0)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: cannot resume: the model differs (folder: %s, now: %s)", dir,
                      old->model, want->model);
    if (strcmp(old->records, want->records) != 0)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: cannot resume: the records differ (folder: %s, now: %s); use another "
                      "folder or remove this one",
                      dir, old->records[0] ? old->records : "lines",
                      want->records[0] ? want->records : "lines");
    DIFF_U64(data_size, "input data size");
    DIFF_U64(dim, "dim");
    DIFF_U64(max_length, "max_length");
    if (old->qformat != want->qformat)
        return lb_err(err, LABSE_E_INVALID,
                      "%s: cannot resume: the format differs (folder: %s, now: %s); use another "
                      "folder or remove this one",
                      dir, lb_qformat_name(old->qformat), lb_qformat_name(want->qformat));
    if (want->qformat == LB_Q_INT8 && old->calib.dim && want->calib.dim &&
        !lb_qcalib_same(&old->calib, &want->calib))
        return lb_err(err, LABSE_E_INVALID,
                      "%s: cannot resume: the int8 calibration differs (folder: ranges of %s, "
                      "now: of %s); use another folder or remove this one",
                      dir, old->calib.source, want->calib.source);
    if (want->qformat == LB_Q_INT8 && old->n_parts && !old->calib.dim)
        return lb_err(err, LABSE_E_FORMAT,
                      "%s: cannot resume: int8 parts without \"calibration\" in the manifest",
                      dir);
    DIFF_U64(part_rows, "part_rows");
    DIFF_U64(dedup_slots, "dedup table (--dedup)");
    DIFF_U64(shard_index, "shard index");
    DIFF_U64(shard_count, "shard count");
    DIFF_U64(byte_start, "shard byte_start");
    DIFF_U64(byte_end, "shard byte_end");
    /* The parts must be the contiguous prefix we would have written, and on disk. */
    uint64_t line = want->line_start, byte = want->byte_start;
    for (size_t i = 0; i < old->n_parts; i++) {
        const lb_manifest_part *p = &old->parts[i];
        char name[32];
        snprintf(name, sizeof name, "part-%05zu.npy", i);
        int last = i + 1 == old->n_parts;
        if (strcmp(p->file, name) != 0 || p->first_line != line || p->byte_start != byte ||
            p->rows == 0 || p->rows > want->part_rows ||
            (p->rows != want->part_rows && !(last && old->complete)))
            return lb_err(err, LABSE_E_FORMAT,
                          "%s: cannot resume: part %zu (%s) is not where this run puts it", dir,
                          i, p->file);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, p->file);
        struct stat sb;
        if (stat(path, &sb) != 0 || (uint64_t)sb.st_size != part_bytes(want, p->rows))
            return lb_err(err, LABSE_E_FORMAT,
                          "%s: cannot resume: %s is missing or has the wrong size; remove the "
                          "folder and start again",
                          dir, p->file);
        line += p->rows;
        byte = p->byte_end;
    }
    return lb_parts_match_input(dir, old, want->input_path, "resume", err);
}

/* ==========================================================================================
 * The run
 * ========================================================================================== */

typedef struct run {
    const lb_pipe_options *o;
    const lb_backend *be;
    size_t dim;
    int max_len;
    size_t window;             /* lines per window (resolved) */
    lb_pack_budget budget;     /* the engine's token and attention budgets */
    lb_input_range rng;
    uint64_t first_line, byte_start; /* where this run starts (after resumed parts) */
    /* output */
    lb_manifest man;           /* folder mode */
    lb_npys *part;             /* part (folder) or the whole file (single) being written */
    uint64_t part_first_line, part_byte_start;
    uint64_t part_duplicates;  /* --dedup: duplicates in the open part */
    /* batch ring */
    int32_t *ids[LB_BACKEND_MAX_DEPTH], *cu[LB_BACKEND_MAX_DEPTH];
    float *out[LB_BACKEND_MAX_DEPTH];  /* where the slot's batch lands: inside stage, not owned */
    int batch_n[LB_BACKEND_MAX_DEPTH];
    int in_flight[LB_BACKEND_MAX_DEPTH];
    size_t cap_ids, cap_seq;
    /* window */
    float *stage;              /* [window * dim] rows in the encoder's order (order[]): batch
                                * j lands at its first sequence's place; from host_alloc
                                * (pinned on the GPU), so the device copies straight into it */
    uint32_t *pos;             /* [window] pos[line] = the line's row in stage */
    float *wrows;              /* [window * dim] rows in input order, only where a pass needs
                                * them in place (--dedup, int8 ranges from the first window);
                                * NULL otherwise: the writer gathers from stage */
    uint32_t *order;           /* [window] */
    lb_tokpool *pool;
    lb_recx *recx;             /* structured input (NULL: plain lines) */
    lb_dedup *dedup;           /* --dedup: the reader thread's table (NULL: off) */
    float *dedup_rows;         /* --dedup: [dedup_slots × dim] the rows of its lines */
    int stopped;
} run;

/* 1 when the n floats x[n] are all finite. One branch-free pass over the exponent bits
 * (the compiler vectorises it; a per-value isfinite with an early exit was 8% of a
 * `--device null` run, bench/RESULTS.md), built for AVX-512 and AVX2 besides the baseline
 * and chosen at load time (its SSE2 form was still 8% of such a run). Reentrant. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static int all_finite(const float *x, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u; /* exponent all ones: inf or NaN */
    }
    return bad == 0;
}

/* Wait for ring slot k (its rows are then in place in stage) and check them. */
static labse_status drain_slot(run *r, int k, labse_error *err) {
    if (!r->in_flight[k]) return LABSE_OK;
    r->in_flight[k] = 0;
    labse_status s = r->be->wait(r->be->ctx, k, err);
    if (s != LABSE_OK) return s;
    if (!all_finite(r->out[k], (size_t)r->batch_n[k] * r->dim))
        return lb_err(err, LABSE_E_INVALID,
                      "the encoder produced a non-finite value (a backend fault)");
    return LABSE_OK;
}

/* Put the encoded rows of the window in input order into r->wrows (the passes that need
 * them in place); lines without tokens (duplicates under --dedup) are left for
 * lb_dedup_apply. */
static void rows_in_place(run *r, const lb_window *w) {
    for (size_t i = 0; i < w->n; i++)
        if (w->ntok[i] > 0)
            memcpy(r->wrows + i * r->dim, r->stage + (size_t)r->pos[i] * r->dim,
                   r->dim * sizeof(float));
}

/* Encode one window into r->stage (r->pos says where each line's row is; r->wrows too, in
 * input order, under --dedup): order by length, cut and pack batches (pack.h), keep up to
 * depth of them in flight. Rows are not moved into input order here: the writer takes them
 * from where they are (lb_npys_append_gather), which spared a copy of every row (10% of the
 * host's CPU in a --device null run, bench/RESULTS.md). Returns LABSE_OK, or an error;
 * r->stopped when should_stop fired. */
static labse_status encode_window(run *r, const lb_window *w, lb_pipe_stats *st,
                                  labse_error *err) {
    const lb_pipe_options *o = r->o;
    const int depth = r->be->depth;
    if (lb_bucket_order(w->ntok, w->n, r->max_len, r->order) != 0)
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    size_t at = 0;
    while (at < w->n && w->ntok[r->order[at]] == 0) at++; /* duplicates (--dedup) sort first */
    int j = 0;
    labse_status s = LABSE_OK;
    while (at < w->n) {
        if (o->should_stop && o->should_stop(o->user)) {
            r->stopped = 1;
            break;
        }
        size_t nb = lb_pack_next(w->ntok, r->order, at, w->n, r->budget, r->cap_seq);
        int k = j % depth;
        if ((s = drain_slot(r, k, err)) != LABSE_OK) return s;
        lb_pack_ids(w->ids, w->ntok, r->order + at, nb, r->ids[k], r->cu[k]);
        r->out[k] = r->stage + at * r->dim;
        r->batch_n[k] = (int)nb;
        s = r->be->submit(r->be->ctx, k, r->ids[k], r->cu[k], (int)nb, r->out[k], err);
        if (s != LABSE_OK) return s;
        r->in_flight[k] = 1;
        st->batches++;
        at += nb;
        j++;
    }
    for (int k = 0; k < depth; k++)
        if ((s = drain_slot(r, k, err)) != LABSE_OK) return s;
    if (r->stopped) return LABSE_OK;
    for (size_t i = 0; i < w->n; i++) r->pos[r->order[i]] = (uint32_t)i;
    if (w->dedup) {
        rows_in_place(r, w);
        lb_dedup_apply(w->dedup, w->n, r->dim, r->wrows, r->dedup_rows);
    }
    return LABSE_OK;
}

/* Start the next part file (folder mode). */
static labse_status part_open(run *r, uint64_t first_line, uint64_t byte_start,
                              labse_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/part-%05zu.npy", r->o->output, r->man.n_parts);
    uint64_t hint = r->o->part_rows;
    if (r->man.lines) { /* known: the last part is shorter */
        uint64_t left = r->man.line_start + r->man.lines - first_line;
        if (left < hint) hint = left;
    }
    r->part_first_line = first_line;
    r->part_byte_start = byte_start;
    r->part_duplicates = 0;
    labse_status s = lb_npys_open(path, lb_qformat_npy(r->o->format), hint,
                                  lb_qformat_cols(r->o->format, r->dim), &r->part, err);
    if (s == LABSE_OK && lb_npys_set_hash(r->part, LB_DIGEST_XXH128) != 0) { /* base/digest.h */
        lb_npys_abort(r->part);
        r->part = NULL;
        return lb_err(err, LABSE_E_NOMEM, "out of memory");
    }
    return s;
}

/* A stream's size and line count are known only at its end. */
static void stream_done(run *r, uint64_t next_line, uint64_t byte_end) {
    if (r->man.fingerprint[0]) return; /* a regular file: known from the start */
    r->man.lines = next_line - r->man.line_start;
    r->man.byte_end = byte_end;
    r->man.input_size = byte_end;
    r->man.data_size = byte_end;
}

static labse_status part_commit(run *r, const char *input_sha256, uint64_t byte_end,
                                int complete, labse_error *err) {
    lb_manifest_part p;
    memset(&p, 0, sizeof p);
    snprintf(p.file, sizeof p.file, "part-%05zu.npy", r->man.n_parts);
    p.first_line = r->part_first_line;
    p.rows = lb_npys_rows(r->part);
    p.byte_start = r->part_byte_start;
    p.byte_end = byte_end;
    p.duplicates = r->part_duplicates;
    if (r->man.fingerprint[0]) { /* a regular file: the hash resume and merge check */
        if (!input_sha256[0]) { /* the reader takes it at every part's end */
            lb_npys_abort(r->part);
            r->part = NULL;
            return lb_err(err, LABSE_E_IO, "%s: no input hash for part %zu (internal error)",
                          r->o->input, r->man.n_parts);
        }
        memcpy(p.input_sha256, input_sha256, sizeof p.input_sha256);
    }
    char hex[65];
    labse_status s = lb_npys_commit(r->part, hex, err);
    memcpy(p.xxh128, hex, sizeof p.xxh128); /* 32 digits + NUL */
    r->part = NULL;
    if (s != LABSE_OK) return s;
    if (lb_manifest_add_part(&r->man, &p) != 0) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    r->man.complete = complete;
    if (complete) stream_done(r, p.first_line + p.rows, byte_end);
    return lb_manifest_write(r->o->output, &r->man, err);
}

static int default_tok_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 1 ? (int)(n - 1) : 1;
}

/* ---- the stages of lb_pipe_run --------------------------------------------------------- */

/* Stage 1: check the arguments; resolve the window, the budgets and the dimensions. */
static labse_status run_check(run *r, const lb_engine *e, const lb_backend *be,
                              const lb_pipe_options *o, labse_error *err) {
    if (!e || !be || !o || !o->input || !o->output)
        return lb_err(err, LABSE_E_INVALID, "lb_pipe_run: NULL argument");
    if (be->depth < 1 || be->depth > LB_BACKEND_MAX_DEPTH)
        return lb_err(err, LABSE_E_INVALID, "backend depth %d not in 1..%d", be->depth,
                      LB_BACKEND_MAX_DEPTH);
    const labse_options *eo = lb_engine_options(e);
    r->o = o;
    r->be = be;
    r->dim = (size_t)lb_engine_dim(e);
    r->max_len = lb_engine_max_length(e);
    r->window = o->window ? o->window : (size_t)eo->window;
    r->budget = lb_pack_budget_of(eo->batch_tokens, r->max_len);
    if (r->window < 1 || r->window > ((size_t)1 << 24) || eo->batch_tokens < 1 ||
        o->part_rows < 1 || o->window_bytes < 2 * LB_PIPE_LINE_CAP)
        return lb_err(err, LABSE_E_INVALID, "pipeline: bad window, batch_tokens or part_rows");
    labse_status s = lb_qformat_check(o->format, r->dim, err);
    if (s != LABSE_OK) return s;
    if (o->calibration && o->format != LB_Q_INT8)
        return lb_err(err, LABSE_E_INVALID, "calibration is for format int8 only (format is %s)",
                      lb_qformat_name(o->format));
    if (o->shard_count > 1 && !o->output_dir)
        return lb_err(err, LABSE_E_INVALID, "sharding needs a folder output");
    if (o->shard_count > 1 && o->format == LB_Q_INT8 && !o->calibration)
        return lb_err(err, LABSE_E_INVALID,
                      "format int8 with shards needs calibration (an embeddings .npy), so that "
                      "every shard quantises with the same ranges");
    if (o->dedup_slots > LB_DEDUP_MAX_SLOTS)
        return lb_err(err, LABSE_E_INVALID, "dedup_table %zu not in 0..%u", o->dedup_slots,
                      (unsigned)LB_DEDUP_MAX_SLOTS);
    return LABSE_OK;
}

/* Stage 2: the input range (the shard, its lines and fingerprint). */
static labse_status run_open_input(run *r, labse_error *err) {
    const lb_pipe_options *o = r->o;
    labse_status s = lb_input_range_open(o->input, o->shard_count > 1 ? o->shard_index : 0,
                                         o->shard_count > 1 ? o->shard_count : 1, o->part_rows,
                                         &r->rng, err);
    r->first_line = r->rng.line_start;
    r->byte_start = r->rng.start;
    return s;
}

/* Stage 3, folder output: the manifest of this run; a folder of the same run is resumed after
 * its last complete part (r->first_line, r->byte_start move on), another one is refused. */
static labse_status run_setup_folder(run *r, lb_pipe_stats *st, labse_error *err) {
    const lb_pipe_options *o = r->o;
    const lb_input_range *rng = &r->rng;
    lb_manifest *w = &r->man;
    w->format = 1;
    w->model = strdup(o->model_id ? o->model_id : "");
    w->input_path = strdup(o->input);
    if (!w->model || !w->input_path) return lb_err(err, LABSE_E_NOMEM, "out of memory");
    w->dim = (int)r->dim;
    w->max_length = r->max_len;
    w->qformat = o->format;
    w->dtype = lb_qformat_npy(o->format);
    w->part_rows = o->part_rows;
    w->dedup_slots = o->dedup_slots;
    w->input_size = rng->file_size;
    w->data_size = rng->data_size;
    snprintf(w->compression, sizeof w->compression, "%s",
             rng->comp ? lb_comp_name((lb_comp)rng->comp) : "");
    lb_pipe_records_name(o, w->records, sizeof w->records);
    memcpy(w->fingerprint, rng->fingerprint, sizeof w->fingerprint);
    w->shard_index = o->shard_count > 1 ? o->shard_index : 0;
    w->shard_count = o->shard_count > 1 ? o->shard_count : 1;
    w->byte_start = rng->start;
    w->byte_end = rng->is_file ? rng->end : 0;
    w->line_start = rng->line_start;
    w->lines = rng->lines;
    if (mkdir(o->output, 0777) != 0 && errno != EEXIST)
        return lb_err(err, LABSE_E_IO, "%s: cannot create the folder: %s", o->output,
                      strerror(errno));
    lb_manifest old;
    int absent = 0;
    labse_error e2;
    labse_status s = lb_manifest_read(o->output, &old, &absent, &e2);
    if (s != LABSE_OK && !absent) {
        *err = e2;
        return s;
    }
    if (s == LABSE_OK) {
        s = same_run(o->output, &old, w, err);
        if (s == LABSE_OK && w->qformat == LB_Q_INT8 && !w->calib.dim && old.calib.dim &&
            lb_qcalib_copy(&w->calib, &old.calib) != 0) /* the folder's first-window ranges */
            s = lb_err(err, LABSE_E_NOMEM, "out of memory");
        if (s != LABSE_OK) {
            lb_manifest_free(&old);
            return s;
        }
        for (size_t i = 0; i < old.n_parts; i++) {
            if (lb_manifest_add_part(w, &old.parts[i]) != 0) {
                lb_manifest_free(&old);
                return lb_err(err, LABSE_E_NOMEM, "out of memory");
            }
            st->lines_resumed += old.parts[i].rows;
            r->first_line += old.parts[i].rows;
            r->byte_start = old.parts[i].byte_end;
        }
        int was_complete = old.complete;
        lb_manifest_free(&old);
        if (was_complete) {
            st->already_complete = 1;
            return LABSE_OK;
        }
    }
    remove_stale_tmp(o->output);
    return lb_manifest_write(o->output, w, err);
}

/* Stage 3: the int8 ranges of a calibration file, then the output, fresh or resumed (folder)
 * or a new single .npy. */
static labse_status run_setup_output(run *r, lb_pipe_stats *st, labse_error *err) {
    const lb_pipe_options *o = r->o;
    labse_status s;
    if (o->format == LB_Q_INT8 && o->calibration &&
        (s = lb_qcalib_load(o->calibration, r->dim, &r->man.calib, err)) != LABSE_OK)
        return s;
    if (o->output_dir) return run_setup_folder(r, st, err);
    s = lb_npys_open(o->output, lb_qformat_npy(o->format), r->rng.lines,
                     lb_qformat_cols(o->format, r->dim), &r->part, err);
    if (s == LABSE_OK) (void)lb_npys_set_hash(r->part, LB_DIGEST_NONE); /* a single .npy's hash is not recorded */
    return s;
}

/* Stage 4: the window's rows and order, and the ring of batch buffers from the backend. */
static labse_status run_alloc_ring(run *r, labse_error *err) {
    const lb_backend *be = r->be;
    const size_t W = r->window, bt = (size_t)r->budget.tokens;
    r->cap_seq = W < bt ? W : bt;
    r->cap_ids = bt > (size_t)r->max_len ? bt : (size_t)r->max_len;
    const int in_place = r->o->dedup_slots || (r->o->format == LB_Q_INT8 && !r->man.calib.dim);
    r->stage = be->host_alloc(be->ctx, W * r->dim * sizeof *r->stage);
    r->pos = malloc(W * sizeof *r->pos);
    r->wrows = in_place ? malloc(W * r->dim * sizeof *r->wrows) : NULL;
    r->order = malloc(W * sizeof *r->order);
    if (!r->stage || !r->pos || (in_place && !r->wrows) || !r->order)
        return lb_err(err, LABSE_E_NOMEM, "out of memory for a window of %zu rows", W);
    for (int k = 0; k < be->depth; k++) {
        r->ids[k] = be->host_alloc(be->ctx, r->cap_ids * sizeof(int32_t));
        r->cu[k] = be->host_alloc(be->ctx, (r->cap_seq + 1) * sizeof(int32_t));
        if (!r->ids[k] || !r->cu[k])
            return lb_err(err, LABSE_E_NOMEM, "out of memory for batch buffers");
    }
    if (r->o->dedup_slots) {
        r->dedup_rows = malloc(r->o->dedup_slots * r->dim * sizeof *r->dedup_rows);
        if (!r->dedup_rows)
            return lb_err(err, LABSE_E_NOMEM, "out of memory for the rows of the dedup table "
                          "(%zu lines; a smaller dedup_table needs less)", r->o->dedup_slots);
        labse_status s = lb_dedup_new(r->o->dedup_slots, LB_DEDUP_TEXT_BYTES, &r->dedup, err);
        if (s != LABSE_OK) return s;
    }
    return LABSE_OK;
}

/* Stage 5: the reader and the tokenizer threads, from where this run starts. */
static labse_status run_start_pool(run *r, const lb_engine *e, lb_pipe_stats *st,
                                   labse_error *err) {
    lb_reader *rd = NULL;
    labse_status s = lb_recx_new(r->o->tsv_column, r->o->jsonl_field, &r->recx, err);
    if (s != LABSE_OK) return s;
    s = lb_reader_open(r->o->input, r->byte_start, r->rng.is_file ? r->rng.end : UINT64_MAX,
                       &rd, err);
    if (s != LABSE_OK) return s;
    lb_tokpool_config pc = {
        .engine = e,
        .threads = st->tok_threads,
        .window = r->window,
        .window_bytes = r->o->window_bytes,
        .first_line = r->first_line,
        .grid = r->o->part_rows,
        .hash_parts = r->o->output_dir && r->rng.fingerprint[0],
        .name = strcmp(r->o->input, "-") == 0 ? "<stdin>" : r->o->input,
        .recx = r->recx,
        .bad_record_empty = r->o->bad_record_empty,
        .dedup = r->dedup,
    };
    return lb_tokpool_start(&pc, rd, &r->pool, err);
}

/* Append the window's rows to the open part or file in the run's format, in input order:
 * from r->wrows when a pass put them there, else gathered from r->stage; int8 without ranges
 * yet takes them from this (the first) window. */
static labse_status append_rows(run *r, const lb_window *w, labse_error *err) {
    const lb_pipe_options *o = r->o;
    labse_status s;
    int in_place = w->dedup != NULL;
    if (o->format == LB_Q_INT8 && !r->man.calib.dim) {
        if (!in_place) rows_in_place(r, w);
        in_place = 1;
        if ((s = lb_qcalib_from_rows(r->wrows, w->n, r->dim, "first-window", &r->man.calib,
                                     err)) != LABSE_OK)
            return s;
    }
    if (in_place)
        return lb_npys_append_q(r->part, (int)o->format, &r->man.calib, r->wrows, w->n, r->dim,
                                err);
    return lb_npys_append_gather(r->part, (int)o->format, &r->man.calib, r->stage, r->pos, w->n,
                                 r->dim, err);
}

/* Write one encoded window (r->stage or r->wrows): append to the part or file; commit a full or last
 * part (folder mode); the manifest of an empty tail. */
static labse_status write_window(run *r, const lb_window *w, lb_pipe_stats *st,
                                 labse_error *err) {
    const lb_pipe_options *o = r->o;
    labse_status s = LABSE_OK;
    if (o->output_dir && w->n > 0) {
        if (!r->part && (s = part_open(r, w->first_line, w->byte_start, err)) != LABSE_OK)
            return s;
        if ((s = append_rows(r, w, err)) != LABSE_OK) return s;
        r->part_duplicates += w->duplicates;
        uint64_t rows = lb_npys_rows(r->part);
        if (rows == o->part_rows || w->last) {
            if ((s = part_commit(r, w->part_sha256, w->byte_end, w->last, err)) != LABSE_OK)
                return s;
            st->parts_written++;
        }
    } else if (o->output_dir && w->last) { /* empty tail: only the manifest */
        r->man.complete = 1;
        stream_done(r, w->first_line, w->byte_end);
        s = lb_manifest_write(o->output, &r->man, err);
    } else if (!o->output_dir && w->n > 0) {
        s = append_rows(r, w, err);
    }
    return s;
}

/* Stage 6: the window loop: take tokenised windows in order, encode, write, report progress;
 * until the end of input, an error or should_stop (r->stopped). */
static labse_status run_windows(run *r, lb_pipe_stats *st, double t0, labse_error *err) {
    const lb_pipe_options *o = r->o;
    double last_progress = 0;
    lb_pipe_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.lines_total = r->rng.lines;
    pr.bytes_total = r->rng.is_file ? r->rng.end - r->rng.start : 0;
    labse_status s = LABSE_OK;
    for (;;) {
        if (o->should_stop && o->should_stop(o->user)) {
            r->stopped = 1;
            break;
        }
        double tw = wall_now();
        lb_window *w = lb_tokpool_next(r->pool);
        st->wait_seconds += wall_now() - tw;
        if (!w) break; /* end, or a reader/tokenizer error reported by finish */
        double te = wall_now();
        s = encode_window(r, w, st, err);
        st->encode_seconds += wall_now() - te;
        if (s != LABSE_OK || r->stopped) {
            lb_tokpool_release(r->pool, w);
            break;
        }
        double tr = wall_now();
        s = write_window(r, w, st, err);
        if (s == LABSE_OK) {
            st->write_seconds += wall_now() - tr;
            st->lines += w->n;
            st->tokens += w->tokens;
            st->truncated += w->truncated;
            st->repaired += w->repaired;
            st->capped += w->capped;
            st->bad_records += w->bad_records;
            st->duplicates += w->duplicates;
            pr.lines_done = st->lines_resumed + st->lines;
            pr.run_lines = st->lines;
            pr.tokens = st->tokens;
            pr.bytes_done = w->byte_end - r->rng.start;
            pr.seconds = wall_now() - t0;
            if (o->progress && (pr.seconds - last_progress >= o->progress_interval || w->last)) {
                o->progress(&pr, o->user);
                last_progress = pr.seconds;
            }
        }
        lb_tokpool_release(r->pool, w);
        if (s != LABSE_OK) break;
    }
    return s;
}

/* Stage 7: join the threads (their error wins over none), then commit the single file or
 * check that the folder is complete. */
static labse_status run_finish(run *r, labse_status s, lb_pipe_stats *st, labse_error *err) {
    labse_error pe;
    double tok_s = 0;
    labse_status ps = lb_tokpool_finish(r->pool, &tok_s, &pe);
    r->pool = NULL;
    st->tok_cpu_seconds = tok_s;
    if (s == LABSE_OK && ps != LABSE_OK) {
        s = ps;
        *err = pe;
    }
    if (s == LABSE_OK && r->stopped) {
        st->stopped = 1;
    } else if (s == LABSE_OK && !r->o->output_dir) {
        s = lb_npys_commit(r->part, NULL, err);
        r->part = NULL;
    } else if (s == LABSE_OK && r->o->output_dir && !r->man.complete) {
        s = lb_err(err, LABSE_E_IO, "%s: input ended early (internal error)", r->o->input);
    }
    return s;
}

/* Free what the stages left (any stage may have failed). */
static void run_free(run *r, lb_pipe_stats *st) {
    const lb_backend *be = r->be;
    if (be && be->timing) be->timing(be->ctx, &st->device_busy_seconds, &st->device_span_seconds);
    if (be && be->mem) be->mem(be->ctx, &st->mem);
    if (r->pool) lb_tokpool_finish(r->pool, NULL, NULL);
    lb_npys_abort(r->part); /* an unfinished part or file: its temporary goes */
    for (int k = 0; k < LB_BACKEND_MAX_DEPTH; k++) {
        if (r->ids[k]) be->host_free(be->ctx, r->ids[k]);
        if (r->cu[k]) be->host_free(be->ctx, r->cu[k]);
    }
    if (r->stage) be->host_free(be->ctx, r->stage);
    free(r->pos);
    free(r->wrows);
    free(r->order);
    lb_recx_free(r->recx);
    lb_dedup_free(r->dedup); /* after the pool: its reader thread used it */
    free(r->dedup_rows);
    lb_manifest_free(&r->man);
}

labse_status lb_pipe_run(const lb_engine *e, const lb_backend *be, const lb_pipe_options *o,
                         lb_pipe_stats *st, labse_error *err) {
    lb_err_clear(err);
    memset(st, 0, sizeof *st);
    double t0 = wall_now();
    run r;
    memset(&r, 0, sizeof r);
    labse_status s = run_check(&r, e, be, o, err);
    if (s != LABSE_OK) return s;
    st->tok_threads = o->tok_threads > 0 ? o->tok_threads : default_tok_threads();
    if ((s = run_open_input(&r, err)) != LABSE_OK) return s;
    s = run_setup_output(&r, st, err);
    if (s == LABSE_OK && !st->already_complete) {
        if ((s = run_alloc_ring(&r, err)) == LABSE_OK &&
            (s = run_start_pool(&r, e, st, err)) == LABSE_OK) {
            s = run_windows(&r, st, t0, err);
            s = run_finish(&r, s, st, err);
        }
    }
    run_free(&r, st);
    st->seconds = wall_now() - t0;
    return s;
}

/* ==========================================================================================
 * Output setup shared by `labse encode` and labse_encode_file
 * ========================================================================================== */

void lb_pipe_records_name(const lb_pipe_options *o, char *buf, size_t cap) {
    if (o->tsv_column > 0)
        snprintf(buf, cap, "tsv-column:%d", o->tsv_column);
    else if (o->jsonl_field)
        snprintf(buf, cap, "jsonl-field:%s", o->jsonl_field);
    else
        snprintf(buf, cap, "%s", "");
    if (buf[0] && o->bad_record_empty) snprintf(buf + strlen(buf), cap - strlen(buf), ",bad-empty");
}

int lb_pipe_output_is_dir(const char *output) {
    size_t n = strlen(output);
    if (n == 0) return 0;
    if (output[n - 1] == '/') return 1;
    struct stat sb;
    int is_dir = stat(output, &sb) == 0 && S_ISDIR(sb.st_mode);
    return is_dir && !(n >= 4 && strcmp(output + n - 4, ".npy") == 0);
}

labse_status lb_pipe_set_output(lb_pipe_options *o, const char *output, int shard_index,
                                int shard_count, char *buf, size_t cap, labse_error *err) {
    if (!o || !output || !buf || cap == 0)
        return lb_err(err, LABSE_E_INVALID, "output: NULL argument");
    if (!*output || strcmp(output, "-") == 0)
        return lb_err(err, LABSE_E_INVALID, "output must name a file or a folder");
    if (shard_count < 1 || shard_count > 1000000 || shard_index < 0 ||
        shard_index >= shard_count)
        return lb_err(err, LABSE_E_INVALID, "shard %d/%d is not K/N with 0 <= K < N",
                      shard_index, shard_count);
    size_t olen = strlen(output);
    int dir = lb_pipe_output_is_dir(output);
    int w;
    if (shard_count > 1) {
        if (!dir)
            return lb_err(err, LABSE_E_INVALID,
                          "%s: a shard needs a folder output (OUT/ or an existing folder)",
                          output);
        if (mkdir(output, 0777) != 0 && errno != EEXIST)
            return lb_err(err, LABSE_E_IO, "%s: cannot create the folder: %s", output,
                          strerror(errno));
        w = snprintf(buf, cap, "%s%sshard-%05d-of-%05d", output,
                     output[olen - 1] == '/' ? "" : "/", shard_index, shard_count);
    } else {
        w = snprintf(buf, cap, "%s", output);
        /* no trailing '/' in the folder name itself (manifest paths read better) */
        size_t l = strlen(buf);
        while (dir && l > 1 && buf[l - 1] == '/') buf[--l] = '\0';
    }
    if (w < 0 || (size_t)w >= cap) return lb_err(err, LABSE_E_INVALID, "%s: name too long", output);
    o->output = buf;
    o->output_dir = dir;
    o->shard_index = shard_index;
    o->shard_count = shard_count;
    return LABSE_OK;
}
