/* pipeline.h — the streaming encoder: a corpus of any size in, embeddings out, in constant
 * host memory, in input order, resumable, shardable. See ARCHITECTURE.md, "One line's walk".
 *
 *   reader ──▶ tokenizer pool (N threads) ──▶ bucketer/packer ──▶ backend ──▶ reorder ──▶ writer
 *   pipe_reader.c  pipe_tokpool.c             pack.c             engine/backend_*.c     io/npy.c
 *                                 (scheduler: pipeline.c)                               (io/manifest.c)
 *
 * The pipeline runs on an engine (engine/engine.h): it tokenises with the engine's tokenizer
 * and takes the token budget (batch_tokens), max_length and the default window from the
 * engine's options; the caller makes the backend (lb_engine_backend).
 *
 * Units of work
 *   line    split as lines.h says (\n, one trailing \r removed, last line without \n counts,
 *           empty lines count). A line longer than LB_PIPE_LINE_CAP bytes is cut (see below).
 *           The input may be gzip, zstd or xz (io/decomp.h): lines and byte offsets are then
 *           those of the decompressed text. With tsv_column / jsonl_field a line is a record
 *           and what is encoded is its column / field (pipe_internal.h, "Records").
 *   window  up to `window` consecutive lines (and at most `window_bytes` bytes of text; the
 *           rules are pack.h's),
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

#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "base/half.h"
#include "io/npy.h"
#include "io/quant.h"
#include "engine/engine.h"
#include "pipeline/pack.h"

/* LB_PIPE_LINE_CAP (pack.h): a line longer than this many bytes is cut before tokenisation:
 * the reader keeps its first LB_PIPE_LINE_CAP bytes, backed off to the last ASCII whitespace
 * (or, with none, to a UTF-8 character boundary at most 3 bytes back) and never holds more
 * of it; its offset is then already past the whole line. Pre-tokenisation splits at
 * whitespace, so the ids are exactly those of the whole line whenever those bytes already
 * hold max_length-2 pieces (a word is at most 100 code points = 400 bytes before it is
 * [UNK]; 1 MiB holds thousands of words) — always, except for pathological lines (a megabyte
 * without any piece: control characters, one giant word). Such lines are counted as
 * `capped`. */

#define LB_PIPE_CHUNK 64       /* lines per tokenizer work item */

/* --dedup's table (pipe_internal.h, "Deduplication"): distinct lines remembered within a part
 * (default; at most), and the bytes of their text. */
#define LB_DEDUP_SLOTS 65536
#define LB_DEDUP_MAX_SLOTS (1u << 24)
#define LB_DEDUP_TEXT_BYTES ((size_t)64 << 20)
#define LB_PIPE_SLOTS 3        /* window slots in the ring */

/* ==========================================================================================
 * Options, progress, statistics
 * ========================================================================================== */

/* Progress reports: the public struct (include/labse.h). */
typedef labse_progress lb_pipe_progress;

typedef struct lb_pipe_options {
    const char *input;         /* file path or "-" (stdin) */
    const char *output;        /* OUT.npy, or a folder when output_dir */
    int output_dir;            /* 1: part files + manifest.json in the folder `output` */
    lb_qformat format;         /* the rows' format (io/quant.h): LB_Q_F32 (default), F16,
                                  BF16, INT8, UBINARY, BINARY */
    const char *calibration;   /* LB_Q_INT8: a float32/float16 .npy whose per-dimension
                                  min/max are the ranges; NULL: the first window's rows (a
                                  folder records them in its manifest and a resume reuses
                                  them; shards need this file, so that they share ranges) */
    int tok_threads;           /* tokenizer threads; 0 = cores - 1 (at least 1) */
    size_t window;             /* lines per window; 0 = the engine's window (default) */
    size_t window_bytes;       /* text bytes per window (default 64 MiB, >= 2 × LINE_CAP) */
    uint64_t part_rows;        /* rows per part file (default 1,000,000) */
    int shard_index, shard_count; /* 0/1 = whole input; K/N: shard K of N (0-based) */
    const char *model_id;      /* recorded and checked in the manifest (e.g. realpath) */
    int tsv_column;            /* > 0: each line is a TSV record, its text column N (1-based) */
    const char *jsonl_field;   /* not NULL: each line is a JSON object, its text this (dotted)
                                  string field; see pipe_internal.h, "Records" */
    int bad_record_empty;      /* 1: a bad record is encoded as an empty line and counted;
                                  0: it stops the run with an error naming file and line */
    /* --dedup (issue 12, section 4; pipe_internal.h, "Deduplication"): 0 off; else the number
     * of distinct lines the table remembers within a part (recorded in the manifest: a
     * resume must use the same) */
    size_t dedup_slots;
    /* Polled between batches; nonzero = stop at the next consistent point. May be NULL. */
    int (*should_stop)(void *user);
    /* Called from the scheduler thread at most every progress_interval seconds. */
    void (*progress)(const lb_pipe_progress *p, void *user);
    void *user;                /* passed to should_stop and progress */
    double progress_interval;
} lb_pipe_options;

/* Defaults: format f32, no calibration, tok_threads 0, window 0 (the engine's), window_bytes LB_WINDOW_BYTES,
 * part_rows 1,000,000, no shard, progress every 0.5 s. The token budget and max_length are
 * the engine's (lb_engine_options). */
lb_pipe_options lb_pipe_default_options(void);

typedef struct lb_pipe_stats {
    uint64_t lines;            /* rows encoded by this run */
    uint64_t lines_resumed;    /* rows found complete in the folder at start */
    uint64_t tokens, truncated, repaired, capped, batches;
    uint64_t bad_records;      /* records encoded as empty lines (bad_record_empty) */
    uint64_t duplicates;       /* --dedup: rows copied from an identical earlier line */
    uint64_t parts_written;
    double tok_cpu_seconds;    /* summed over tokenizer threads: time inside the tokenizer */
    double encode_seconds;     /* scheduler thread: pack + backend + reorder */
    double write_seconds;      /* scheduler thread: conversion, checksums, file writes */
    double wait_seconds;       /* scheduler thread waiting for tokenised windows */
    double seconds;            /* wall time of lb_pipe_run */
    double device_busy_seconds;/* GPU backends: time the device computed (events) */
    double device_span_seconds;/* GPU backends: first submit to last wait; the device waited
                                  for the host 1 - busy/span of that span (0/0 on the CPU) */
    lb_backend_mem mem;        /* GPU backends: out-of-memory splits, workspace (be->mem) */
    int tok_threads;           /* resolved */
    int stopped;               /* 1: stopped by *stop; the folder is consistent, resumable */
    int already_complete;      /* 1: the folder was complete; nothing done */
} lb_pipe_stats;

/*
 * Run the pipeline. Writes `o->output` as a single .npy (atomically: temporary + fsync +
 * rename; nothing left on failure) or as a folder of parts + manifest.json (resumed when
 * the folder holds an incomplete manifest of the same input and settings; refused with
 * LABSE_E_INVALID and a message saying what differs otherwise).
 * Returns LABSE_OK also when stopped by should_stop (then st->stopped = 1).
 * e supplies the tokenizer and the options batch_tokens, max_length and window (when
 * o->window is 0); be is a backend made from e (lb_engine_backend, LB_BACKEND_STREAM).
 * Thread-safety: be is used by this call only (e may be shared read-only).
 */
labse_status lb_pipe_run(const lb_engine *e, const lb_backend *be,
                         const lb_pipe_options *o, lb_pipe_stats *st, labse_error *err);

/* ==========================================================================================
 * Setup shared by `labse encode` and labse_encode_file
 * ========================================================================================== */

/* The manifest's "records" of o: "" for plain lines, "tsv-column:N" or "jsonl-field:NAME",
 * with ",bad-empty" when bad records are encoded empty (a resume must use the same rule). */
void lb_pipe_records_name(const lb_pipe_options *o, char *buf, size_t cap);

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

/* ==========================================================================================
 * Many input files (issue 12 §2; pipe_files.c, pipe_files_run.c, pipe_files_merge.c)
 *
 * Layout of a folder output OUT/ of a list of inputs (README, "Many files"):
 *   OUT/files.json                  the list in order: {"format": 1, "files": [{"input":
 *                                   PATH, "name": NAME, "size": BYTES}, ...]}; the same bytes
 *                                   from every task (no shard, no time), refused when it
 *                                   exists with other content
 *   OUT/NAME/                       a whole input: part-*.npy + manifest.json (as one run)
 *   OUT/NAME/shard-JJJJJ-of-MMMMM/  a huge input cut into M byte ranges by the plan
 * NAME is derived from PATH (lb_files_name). Row order of the whole: the list's order, and
 * inside an input its lines.
 * ========================================================================================== */

#define LB_FILES_RECORD "files.json"
#define LB_FILES_NAME_MAX 240  /* bytes of a derived folder name */

/* The list of inputs: paths as given, derived names, sizes on disk. */
typedef struct lb_files {
    size_t n;
    char **paths;              /* heap, n */
    char **names;              /* heap, n */
    uint64_t *sizes;           /* heap, n: bytes as stored (compressed size when compressed) */
} lb_files;

/*
 * The folder name of an input path, into out[LB_FILES_NAME_MAX + 1]: the path's components
 * ('/'-separated; empty and "." ones dropped) joined by "__", every byte outside
 * [A-Za-z0-9._+-] replaced by '_', a component's leading '.' by '_' (so ".." and hidden names
 * stay visible). "data/en/a.txt.gz" -> "data__en__a.txt.gz", "/x/./b" -> "x__b",
 * "../c" -> "_.__c". Returns 0, or -1 when the name is empty or over LB_FILES_NAME_MAX.
 * Reentrant.
 */
int lb_files_name(const char *path, char *out);

/*
 * Make the list from paths[n] (n >= 1; copied): names derived, sizes from stat (each must be
 * a regular file; "-" is refused). Errors: LABSE_E_INVALID (two inputs with one name, naming
 * both; a name equal to files.json; stdin), LABSE_E_IO (cannot stat, not a regular file),
 * LABSE_E_NOMEM. On failure *f is left empty. Reentrant.
 */
labse_status lb_files_make(const char *const *paths, size_t n, lb_files *f, labse_error *err);

/* Free what f owns and zero it. NULL is a no-op. */
void lb_files_free(lb_files *f);

/*
 * Read one path a line from `list_path` (a list file of --input-list): '\n' ends a line, one
 * '\r' before it is dropped, lines empty or all blanks/tabs are skipped, the rest is the
 * path as written (relative paths are relative to the current directory). *paths (heap array
 * of heap strings, *n of them; free each and the array) Errors: LABSE_E_IO, LABSE_E_INVALID
 * (no path in the list, a line with a NUL byte), LABSE_E_NOMEM. Reentrant.
 */
labse_status lb_files_read_list(const char *list_path, char ***paths, size_t *n,
                                labse_error *err);

/* Write dir/files.json for f (atomic), or check that the one there has the same bytes:
 * LABSE_E_INVALID naming the folder when it lists other inputs. Reentrant. */
labse_status lb_files_record_write(const char *dir, const lb_files *f, labse_error *err);

/* Read dir/files.json into *f (paths, names, sizes; no stat). Errors: LABSE_E_IO (absent:
 * *absent = 1 when not NULL), LABSE_E_FORMAT naming the file. Reentrant. */
labse_status lb_files_record_read(const char *dir, lb_files *f, int *absent, labse_error *err);

/* One piece of the plan: range `index` of `count` byte ranges of input `file` (count 1: the
 * whole file), given to task `task`. */
typedef struct lb_files_piece {
    size_t file;
    int index, count;
    int task;
    uint64_t bytes;            /* its share of the file's size: the dealing weight */
} lb_files_piece;

/*
 * Deal the inputs to n_tasks tasks, deterministically from the list and the sizes only (every
 * task computes the same plan). With T the total bytes and t = max(1, floor(T / n_tasks)), an
 * input over t bytes is cut into count = min(n_tasks, ceil(size / t)) byte ranges (the shard
 * rule of one input, lb_input_range_open); others are whole. The pieces are dealt largest
 * first (ties: list order, then range index) each to the task with the fewest bytes so far
 * (ties: the lowest task), then listed in list order. n_tasks == 1: every input whole, task 0.
 * *pieces (heap; caller frees), *n_pieces. Errors: LABSE_E_INVALID, LABSE_E_NOMEM.
 */
labse_status lb_files_plan(const lb_files *f, int n_tasks, lb_files_piece **pieces,
                           size_t *n_pieces, labse_error *err);

/*
 * Encode task o->shard_index of o->shard_count of the list f into the folder o->output (made
 * if missing; o->output_dir must be 1): files.json, then every piece of the plan the task owns
 * in list order, each through lb_pipe_run (resumed or skipped as one run is). o->input is
 * ignored; o->progress sees the whole task: bytes_done / bytes_total over all its pieces (by
 * size on disk), lines_done and tokens summed, lines_total 0. st sums the runs (output: the
 * folder; already_complete when every piece was). Stops after the piece that saw should_stop.
 * Thread-safety: as lb_pipe_run.
 */
labse_status lb_files_run(const lb_engine *e, const lb_backend *be, const lb_files *f,
                          const lb_pipe_options *o, lb_pipe_stats *st, labse_error *err);

/* 1 when dir holds files.json (a many-files output). */
int lb_files_is_output(const char *dir);

/*
 * The complete run folders of the many-files output dir, in row order: for each input of
 * files.json, DIR/NAME (a complete manifest) or its shard folders DIR/NAME/shard-*-of-M (all
 * M, checked as lb_pipe_merge checks them); inputs without rows are skipped. Every input must
 * be present and complete and all share model, dim, dtype, max_length and records; each
 * manifest's input size must be files.json's. check_input 1: also re-hash the input bytes
 * under every part when the input is at its recorded path (as lb_pipe_merge; mining passes 0).
 * *folders (heap array of heap strings; free each and the array), *n, *rows (total, may be
 * NULL). Errors: LABSE_E_INVALID naming the missing or incomplete input and its folder,
 * LABSE_E_FORMAT, LABSE_E_IO, LABSE_E_NOMEM. Reentrant.
 */
labse_status lb_files_collect(const char *dir, int check_input, char ***folders, size_t *n,
                              uint64_t *rows, labse_error *err);

/* Concatenate every row of the many-files output dir (lb_files_collect's order and checks)
 * into npy_path (atomic; each part's sha256 verified). *rows (may be NULL). Reentrant. */
labse_status lb_files_merge_npy(const char *dir, const char *npy_path, uint64_t *rows,
                                labse_error *err);

#endif
