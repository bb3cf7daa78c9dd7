/* pipeline.h — the streaming encoder: a corpus of any size in, embeddings out, in constant
 * host memory, in input order, resumable, shardable. See GUIDE.md "The data path".
 *
 *   reader ──▶ tokenizer pool (N threads) ──▶ bucketer/packer ──▶ backend ──▶ reorder ──▶ writer
 *   pipe_reader.c  pipe_tokpool.c             pipe_batch.c       pipe_backend_cpu.c     io/npy.c
 *                                 (scheduler: pipeline.c)                               (io/manifest.c)
 *
 * Units of work
 *   line    split as lines.h says (\n, one trailing \r removed, last line without \n counts,
 *           empty lines count). A line longer than LB_PIPE_LINE_CAP bytes is cut (see below).
 *   window  up to `window` consecutive lines (and at most `window_bytes` bytes of text),
 *           cut at every global line index that is a multiple of `window` or of
 *           `part_rows`. Runs, resumed runs and shards all start on that grid (shards are
 *           aligned to parts, see lb_input_range_open), so the windows - hence the batches,
 *           hence the bytes of every row (the CPU GEMMs are not batch-invariant to the last
 *           bit) - are a function of (input, options) only: a resumed run, an uninterrupted
 *           one and merged shards are byte-identical.
 *   batch   inside a window, lines sorted by token count (stable counting sort), cut when the
 *           next line would exceed `batch_tokens` tokens or the attention budget
 *           Σ len² ≤ batch_tokens × max_length / 2 (a batch of max-length sequences thus gets
 *           half the token budget; without this a batch of short sequences and one of long
 *           ones cost wildly different attention time). A single line always fits.
 *
 * Threads: one reader thread, `tok_threads` tokenizer threads (a window is split in chunks of
 * LB_PIPE_CHUNK lines claimed with an atomic counter: no lock per line), and the calling
 * thread, which packs, runs the backend, reorders and writes. Window slots are recycled
 * (LB_PIPE_SLOTS of them), so while window i is encoded, window i+1 is tokenised and i+2 read.
 *
 * Host memory is bounded by the options, never by the input: LB_PIPE_SLOTS × (window_bytes of
 * text + window × (max_length ids + bookkeeping)) + window × dim floats of output + the
 * backend's batch buffers.
 *
 * Not part of the public API (include/labse.h). Internal names start with lb_.
 */
#ifndef LB_PIPELINE_H
#define LB_PIPELINE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "base/half.h"
#include "io/npy.h"

/* A line longer than this many bytes is cut before tokenisation: the reader keeps its first
 * LB_PIPE_LINE_CAP bytes, backed off to the last ASCII whitespace (or, with none, to a UTF-8
 * character boundary) and never holds more of it. Pre-tokenisation splits at whitespace, so
 * the ids are exactly those of the whole line whenever those bytes already hold max_length-2
 * pieces (a word is at most 100 code points = 400 bytes before it is [UNK]; 1 MiB holds
 * thousands of words) — always, except for pathological lines (a megabyte without any piece:
 * control characters, one giant word). Such lines are counted as `capped`. */
#define LB_PIPE_LINE_CAP ((size_t)1 << 20)

#define LB_PIPE_CHUNK 64       /* lines per tokenizer work item */
#define LB_PIPE_SLOTS 3        /* window slots in the ring */

/* ==========================================================================================
 * The backend seam (the GPU backend implements the same struct)
 * ========================================================================================== */

/*
 * A backend encodes packed batches. The scheduler keeps up to `depth` batches in flight in
 * a ring of host buffers obtained from host_alloc (cudaHostAlloc'ed, pinned memory on the GPU;
 * 64-byte aligned malloc on the CPU):
 *
 *   for batch j:  slot = j % depth
 *                 if j >= depth: wait(slot) → the rows of batch j-depth are in its out buffer
 *                 pack ids/cu_seqlens of batch j into the slot's buffers; submit(slot)
 *   at window end: wait every slot still in flight.
 *
 * submit may return before the work is done (GPU: H2D copy of ids on a copy stream, event,
 * forward on the compute stream, D2H of the rows into `out` on the copy stream, event);
 * wait(slot) blocks until `out` of that slot holds the rows. The buffers passed to submit
 * stay untouched by the scheduler until wait(slot) returned. The CPU backend has depth 1 and
 * computes in submit (wait is a no-op).
 * Thread-safety: all calls come from the scheduler thread.
 */
#define LB_PIPE_MAX_DEPTH 16   /* batches in flight, all devices together */

typedef struct lb_pipe_backend {
    void *ctx;
    int depth;                      /* batches in flight, >= 1 */
    const char *name;               /* "cpu", later "cuda:0" */
    /* Host buffers for batches (ids, cu_seqlens, rows). NULL on failure. */
    void *(*host_alloc)(void *ctx, size_t bytes);
    void (*host_free)(void *ctx, void *p);
    /* Encode n sequences: ids[cu[n]], cu[n+1] (cu[0] = 0), rows out[n * dim]. */
    labse_status (*submit)(void *ctx, int slot, const int32_t *ids, const int32_t *cu, int n,
                           float *out, labse_error *err);
    labse_status (*wait)(void *ctx, int slot, labse_error *err);
    void (*destroy)(void *ctx);     /* frees ctx (NULL-safe) */
    /* Optional (NULL on the CPU): seconds the device computed, and the span from the first
     * submit to the last wait; 1 - busy/span is the fraction of time the device waited. */
    void (*timing)(void *ctx, double *busy_s, double *span_s);
} lb_pipe_backend;

/* The CPU backend over a labse_session (labse_encode_ids). m must outlive the backend.
 * On success the caller owns *be and ends it with be->destroy(be->ctx). */
labse_status lb_pipe_backend_cpu(const labse_model *m, lb_pipe_backend *be, labse_error *err);

/* The GPU backend (src/gpu_backend.c; only in builds with a GPU backend): depth 2, pinned
 * buffers, three streams. m must have been loaded for a CUDA device. */
labse_status lb_pipe_backend_gpu(const labse_model *m, lb_pipe_backend *be, labse_error *err);

/* The backend of m's device: GPU when the model was loaded for CUDA, else CPU. */
labse_status lb_pipe_backend_for(const labse_model *m, lb_pipe_backend *be, labse_error *err);

/* ==========================================================================================
 * Options, progress, statistics
 * ========================================================================================== */

typedef struct lb_pipe_progress {
    uint64_t lines_done;      /* rows finished (resumed rows included) */
    uint64_t lines_total;     /* lines of the input or shard; 0 when unknown (stdin) */
    uint64_t tokens;          /* tokens encoded by this run */
    uint64_t bytes_done;      /* input bytes consumed relative to the range start */
    uint64_t bytes_total;     /* bytes of the range; 0 when unknown */
    double seconds;           /* since lb_pipe_run started */
    uint64_t run_lines;       /* rows encoded by this run (for rates) */
} lb_pipe_progress;

typedef struct lb_pipe_options {
    const char *input;         /* file path or "-" (stdin) */
    const char *output;        /* OUT.npy, or a folder when output_dir */
    int output_dir;            /* 1: part files + manifest.json in the folder `output` */
    lb_npy_dtype dtype;        /* LB_NPY_F32 or LB_NPY_F16 */
    int tok_threads;           /* tokenizer threads; 0 = cores - 1 (at least 1) */
    int batch_tokens;          /* token budget of one batch (default 16384) */
    size_t window;             /* lines per window (default 32768) */
    size_t window_bytes;       /* text bytes per window (default 64 MiB, >= 2 × LINE_CAP) */
    uint64_t part_rows;        /* rows per part file (default 1,000,000) */
    int shard_index, shard_count; /* 0/1 = whole input; K/N: shard K of N (0-based) */
    const char *model_id;      /* recorded and checked in the manifest (e.g. realpath) */
    /* Polled between batches; nonzero = stop at the next consistent point. May be NULL. */
    const volatile sig_atomic_t *stop;
    /* Called from the scheduler thread at most every progress_interval seconds. */
    void (*progress)(const lb_pipe_progress *p, void *user);
    void *progress_user;
    double progress_interval;
} lb_pipe_options;

/* Defaults: f32, tok_threads 0, batch_tokens 16384, window 32768, window_bytes 64 MiB, part_rows 1,000,000,
 * no shard, progress every 0.5 s. */
lb_pipe_options lb_pipe_default_options(void);

typedef struct lb_pipe_stats {
    uint64_t lines;            /* rows encoded by this run */
    uint64_t lines_resumed;    /* rows found complete in the folder at start */
    uint64_t tokens, truncated, repaired, capped, batches;
    uint64_t parts_written;
    double tok_cpu_seconds;    /* summed over tokenizer threads: time inside the tokenizer */
    double encode_seconds;     /* scheduler thread: pack + backend + reorder */
    double write_seconds;      /* scheduler thread: conversion, checksums, file writes */
    double wait_seconds;       /* scheduler thread waiting for tokenised windows */
    double seconds;            /* wall time of lb_pipe_run */
    double device_busy_seconds;/* GPU backends: time the device computed (events) */
    double device_span_seconds;/* GPU backends: first submit to last wait; the device waited
                                  for the host 1 - busy/span of that span (0/0 on the CPU) */
    int tok_threads;           /* resolved */
    int stopped;               /* 1: stopped by *stop; the folder is consistent, resumable */
    int already_complete;      /* 1: the folder was complete; nothing done */
} lb_pipe_stats;

/*
 * Run the pipeline. Writes `o->output` as a single .npy (atomically: temporary + fsync +
 * rename; nothing left on failure) or as a folder of parts + manifest.json (resumed when
 * the folder holds an incomplete manifest of the same input and settings; refused with
 * LABSE_E_INVALID and a message saying what differs otherwise).
 * Returns LABSE_OK also when stopped by *stop (then st->stopped = 1).
 * Thread-safety: m and be are used by this call only (m may be shared read-only).
 */
labse_status lb_pipe_run(const labse_model *m, const lb_pipe_backend *be,
                         const lb_pipe_options *o, lb_pipe_stats *st, labse_error *err);

/* ==========================================================================================
 * Setup shared by `labse encode` and labse_encode_file
 * ========================================================================================== */

/* Internal accessors of a labse_model (src/labse.c): the options it was loaded with (defaults
 * resolved) and its id for manifests (realpath of the folder, or the path as given). */
const labse_options *lb_model_options(const labse_model *m);
const char *lb_model_id(const labse_model *m);
/* The loaded lb_model (model.h) inside m. */
const struct lb_model *lb_model_inner(const labse_model *m);
/* Number of GPUs m runs on (0 on the CPU), and the weights on the i-th (NULL if none). */
int lb_model_gpu_count(const labse_model *m);
const struct lb_gpu_weights *lb_model_gpu_weights(const labse_model *m, int i);
/* "cpu", "cuda:N" — the device m's sessions run on. Static storage of m. */
const char *lb_model_device_name(const labse_model *m);

/* 1 when `output` names a folder output: it ends in '/', or it is an existing folder whose
 * name does not end in ".npy". 0: a single .npy file. */
int lb_pipe_output_is_dir(const char *output);

/*
 * Fill o->output, o->output_dir, o->shard_index and o->shard_count from an output argument
 * and a shard K/N (0/1 = whole input), as `labse encode --output OUT --shard K/N` does:
 *   - folder or file by lb_pipe_output_is_dir; trailing '/' removed from a folder's name;
 *   - shard_count > 1: OUT must be a folder; it is created if missing and the shard writes
 *     OUT/shard-KKKKK-of-NNNNN.
 * o->output points into buf[cap] afterwards. Errors: LABSE_E_INVALID (empty or "-" output,
 * bad K/N, a shard with a file output, name too long), LABSE_E_IO (mkdir failed).
 */
labse_status lb_pipe_set_output(lb_pipe_options *o, const char *output, int shard_index,
                                int shard_count, char *buf, size_t cap, labse_error *err);

/* ==========================================================================================
 * Merge (labse merge)
 * ========================================================================================== */

/*
 * Join complete shard folders (manifests of the same input, model, dim, dtype, shard count,
 * one per shard index, contiguous lines) into the folder out_dir (created if missing): its
 * parts are hard links to the shards' parts (copies across file systems), renumbered
 * part-00000.npy..., and one manifest covering the whole input. When npy_path is not NULL,
 * also concatenate every row into that single .npy (atomic; checksums verified on the way).
 * out_dir may be NULL when only npy_path is wanted. *rows_out: total rows (may be NULL).
 */
labse_status lb_pipe_merge(const char *out_dir, const char *const *shard_dirs, int n,
                           const char *npy_path, uint64_t *rows_out, labse_error *err);

#endif
