/* pipe_internal.h — the pieces of the pipeline (pipeline.h), one concern per file:
 *   pipe_reader.c   input range, line reading with the line cap, shards, fingerprint
 *   pipe_tokpool.c  window slots, reader thread, tokenizer threads
 *   pipe_dedup.c    --dedup: the table of distinct lines, rows copied to duplicates
 *   pack.c          windows, length bucketing, batch cutting, packing (pack.h)
 *   pipe_merge.c    `labse merge` (shard folders into one folder and/or one .npy)
 *   pipe_files.c    many input files: folder names, the shard plan, files.json
 *   pipe_files_run.c  encoding the list;  pipe_files_merge.c  collecting / joining it
 *   (output: io/npy.h lb_npys, io/manifest.h, over io/atomic_file.h)
 * Shared with the tests (tests/test_pipeline.c). Not part of the public API. */
#ifndef LB_PIPE_INTERNAL_H
#define LB_PIPE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/common.h"
#include "io/manifest.h"
#include "io/npy.h"
#include "pipeline/pipeline.h"

/* ==========================================================================================
 * Reader (pipe_reader.c)
 * ========================================================================================== */

/* The bytes to encode: a whole regular file or stdin, or a shard of a regular file. */
typedef struct lb_input_range {
    int is_file;             /* 1 regular file (seekable, size known); 0 stdin / pipe */
    uint64_t file_size;      /* whole file as stored (0 for a stream) */
    uint64_t data_size;      /* bytes the offsets count: decompressed (io/decomp.h) for a
                                compressed file, else file_size */
    int comp;                /* lb_comp of the file (LB_COMP_NONE = 0 for a stream) */
    uint64_t start, end;     /* byte range of this shard ([0, data_size) without sharding) */
    uint64_t line_start;     /* global index of the first line of the range */
    uint64_t lines;          /* lines in the range (0 for a stream: unknown) */
    char fingerprint[65];    /* see lb_input_fingerprint; "" for a stream */
} lb_input_range;

/*
 * Shard rule. For a file of S bytes and N shards, nominal cut k is b_k = floor(k·S/N). The
 * actual cut c_k is the first line start at or after b_k (a line starts at 0 or just after
 * a '\n'; S counts as a line start) whose global line index is a multiple of `align` (the
 * part rows), or S when there is none; c_0 = 0, c_N = S. Shard k covers bytes [c_k, c_{k+1}).
 * So every line lies in exactly one shard, shards are made of whole parts, and the windows
 * (cut at global multiples of the window and of the part rows) are the same in a sharded
 * and in a single run: merged shards are byte-identical to a single run with the same
 * --window, --part-rows, --batch-tokens and encoder threads. Shards may be empty.
 * Cost: one memchr pass over bytes [0, c_{k+1}) to count lines (global line numbers).
 * Fills *r for path (a regular file; "-" or a pipe only with shard_count 1).
 */
labse_status lb_input_range_open(const char *path, int shard_index, int shard_count,
                                 uint64_t align, lb_input_range *r, labse_error *err);

/* lb_input_range_open for a compressed regular file open on fd (pipe_zinput.c): the same
 * rule over its decompressed bytes (S = data_size), so offsets, byte ranges and part
 * positions are decompressed offsets, and a part's position is its line number. Cost: one
 * decompression pass to count S and the lines, and for a shard (n > 1) a second one up to
 * the next shard's cut. Leaves file_size, fingerprint and comp to the caller. */
labse_status lb_zrange_open(int fd, const char *name, int shard_index, int shard_count,
                            uint64_t align, lb_input_range *r, labse_error *err);

/* sha256 of byte ranges of one input file, plain or compressed (pipe_zinput.c): ranges of a
 * compressed file are in decompressed bytes; asked in increasing order they cost one
 * decompression pass in all (going back restarts the stream). One thread per hasher. */
typedef struct lb_range_hasher lb_range_hasher;
labse_status lb_range_hasher_open(const char *path, lb_range_hasher **out, labse_error *err);
/* hex[65] = sha256 of bytes [start, end). LABSE_E_IO when the input is shorter than end. */
labse_status lb_range_hasher_sha256(lb_range_hasher *h, uint64_t start, uint64_t end,
                                    char hex[65], labse_error *err);
void lb_range_hasher_free(lb_range_hasher *h); /* NULL is a no-op */

/* Fingerprint of a regular file: sha256 over the decimal size, a '\n', the first
 * min(1 MiB, size) bytes and the last min(1 MiB, size) bytes. Cost: 2 MiB read, whatever the
 * size. It catches appends, truncations and edits near either end, not a same-size edit in
 * the middle (a full hash would cost a whole pass: ~2 s/GB). hex[65]. */
labse_status lb_input_fingerprint(int fd, uint64_t size, const char *name, char hex[65],
                                  labse_error *err);

/* sha256 of bytes [start, end) of the regular file `path` (decompressed bytes for a
 * compressed file), as 64 hex digits into hex[65]: the input_sha256 of a part
 * (io/manifest.h), which resume and merge recompute to see any edit of the input under the
 * parts they keep (a run computes it in the reader thread as the bytes go by:
 * lb_reader_part_sha256). Cost: one read of the range (~2 s/GB; compressed: decompression
 * from the start of the file). LABSE_E_IO naming the file when it cannot be opened or is
 * shorter than end. Thread-safe. */
labse_status lb_input_range_sha256(const char *path, uint64_t start, uint64_t end,
                                   char hex[65], labse_error *err);

/* Check every part of m that has an input_sha256 against the input file at `input`: the first
 * part whose range hashes differently gives LABSE_E_INVALID "<dir>: cannot <verb>: the input
 * changed under part N (...)". The run manifest's own checks (size, fingerprint) come first,
 * in the caller. Cost: one read of the parts' ranges. Thread-safe. */
labse_status lb_parts_match_input(const char *dir, const lb_manifest *m, const char *input,
                                  const char *verb, labse_error *err);

/* The same with a hasher the caller keeps across calls (*h: NULL at first, opened on `input`
 * when needed; the caller frees it): shards checked in order cost one decompression pass of
 * a compressed input in all, not one per shard. */
labse_status lb_parts_match_hasher(const char *dir, const lb_manifest *m, const char *input,
                                   lb_range_hasher **h, const char *verb, labse_error *err);

typedef struct lb_reader lb_reader;

/* Open a line reader on path ("-" = stdin) over bytes [start, end) (end = UINT64_MAX: to
 * EOF; start must be a line start; for stdin start must be 0). Stdin, pipes and compressed
 * files (gzip, zstd, xz by their magic bytes) are read through io/decomp.h: then offsets are
 * decompressed offsets and a start > 0 is reached by decompressing and dropping the bytes
 * before it (in the reader thread, at the first read). One thread uses it. */
labse_status lb_reader_open(const char *path, uint64_t start, uint64_t end, lb_reader **out,
                            labse_error *err);
void lb_reader_free(lb_reader *r);

/* lb_reader_open with a line cap other than LB_PIPE_LINE_CAP and read() calls of read_chunk
 * bytes instead of 8 MiB (lb_reader_open passes those defaults; the pipeline uses only them).
 * A test seam: tests/fuzz/fuzz_lines and tests/test_pipeline.c run every path of the cap and
 * of a line across reads on inputs of a few bytes. The reader holds read_chunk + 3 × line_cap
 * bytes at most. line_cap >= 1, read_chunk >= 1, else LABSE_E_INVALID; LABSE_E_NOMEM;
 * LABSE_E_IO as lb_reader_open. One thread uses the reader. */
labse_status lb_reader_open_limits(const char *path, uint64_t start, uint64_t end,
                                   size_t line_cap, size_t read_chunk, lb_reader **out,
                                   labse_error *err);

/* Next line: 1 and *p, *len (valid until the next call; no terminator) and *capped (the line
 * was longer than the reader's line cap, LB_PIPE_LINE_CAP, and cut, see pipeline.h); 0 at
 * the end; -1 on a read error (err filled). The line rules are lines.h's. */
int lb_reader_next(lb_reader *r, const char **p, size_t *len, int *capped, labse_error *err);

/* Absolute input offset just after the last line returned (its '\n' included). */
uint64_t lb_reader_offset(const lb_reader *r);

/* Start hashing every byte the reader consumes (lines with their '\n' and '\r', the dropped
 * rest of over-long lines) from here on; lb_reader_part_sha256 gives the sha256 of the bytes
 * consumed since the last call (or since this one) as hex[65] and starts again. A part's
 * input_sha256 is thus computed once, as the bytes go by, in the reader thread. */
void lb_reader_hash_parts(lb_reader *r);
void lb_reader_part_sha256(lb_reader *r, char hex[65]);

/* ==========================================================================================
 * Records (pipe_record.c)
 * ========================================================================================== */

/* Structured input: each input line (after the line rules: CR/LF, the 1 MiB cap, NUL and
 * invalid UTF-8 kept as they are) is one record, and its text is
 *   - TSV: column `tsv_column` (1-based, as `cut -f N`: the bytes between the (N-1)th and the
 *     Nth tab, or the end of the line); a record with fewer columns is bad;
 *   - JSONL: the string at `jsonl_field` in the JSON object of the line, a dotted name
 *     walking nested objects ("meta.text"; a key that itself holds a '.' cannot be named);
 *     a line that does not parse, is not an object, lacks the field or holds something else
 *     than a string there (null, a number, an object) is bad. The text is the decoded
 *     string (escapes resolved; a \u0000 ends it).
 * The text is never longer than the line. A bad record is an error naming the file and the
 * line, unless the run encodes it as an empty line (bad_record_empty) and counts it. */
typedef struct lb_recx lb_recx;

/* An extractor for tsv_column (> 0) or jsonl_field (not NULL); *out = NULL (plain lines)
 * when neither is given. LABSE_E_INVALID for both, a negative column or an empty name part.
 * Owned by the caller (lb_recx_free); one thread at a time. */
labse_status lb_recx_new(int tsv_column, const char *jsonl_field, lb_recx **out,
                         labse_error *err);
void lb_recx_free(lb_recx *x);

/* The text of one record: 1 and *out, *out_len (valid until the next call or the line's
 * buffer changes); 0 for a bad record with the reason in why[whycap]; -1 out of memory. */
int lb_recx_get(lb_recx *x, const char *line, size_t len, const char **out, size_t *out_len,
                char *why, size_t whycap);

/* ==========================================================================================
 * Deduplication (pipe_dedup.c; issue 12, section 4)
 * ========================================================================================== */

/* With --dedup the reader thread looks every line (its text after the line rules: CR/LF, the
 * line cap, record extraction) up in a table of the distinct lines seen before it:
 *   - a line already there is a duplicate: it is neither copied into the window nor
 *     tokenised nor encoded, and gets a byte-identical copy of that line's row (COPY);
 *   - a new line is encoded and its row kept in the table's slot for later copies (NEW).
 * Scope and bound (so that rows are a function of the input and the options, and memory of
 * the options only):
 *   - the table is emptied at every part start (global multiples of part_rows: the grid the
 *     windows, shards and resumed runs start on), so a duplicate is found only within its
 *     part, and a resumed run or a shard gives the same rows as an uninterrupted run;
 *   - it remembers the last `slots` distinct lines of the part (default LB_DEDUP_SLOTS) whose
 *     texts fit in `text_bytes` (LB_DEDUP_TEXT_BYTES); older ones are forgotten (oldest
 *     first): a duplicate beyond that window is simply encoded again;
 *   - the scheduler keeps one row per slot: slots × dim floats (default, LaBSE: 192 MiB).
 * A 64-bit hash match is confirmed by comparing the bytes: a collision never gives a wrong
 * row. */
/* The bounds LB_DEDUP_SLOTS, LB_DEDUP_MAX_SLOTS, LB_DEDUP_TEXT_BYTES: pipeline.h. */

/* A line's dedup code: (slot << 2) | kind. */
#define LB_DEDUP_NONE 0u  /* not remembered (longer than the table's text bytes): encoded */
#define LB_DEDUP_NEW 1u   /* encoded; its row goes into slot (code >> 2) */
#define LB_DEDUP_COPY 2u  /* a duplicate: its row is slot (code >> 2)'s */

typedef struct lb_dedup lb_dedup;

/* An empty table of `slots` lines (1..LB_DEDUP_MAX_SLOTS) and text_bytes bytes of text
 * (>= 1). Owned by the caller (lb_dedup_free, NULL-safe); one thread at a time. Memory:
 * text_bytes + 32 × slots bytes. LABSE_E_INVALID, LABSE_E_NOMEM. */
labse_status lb_dedup_new(size_t slots, size_t text_bytes, lb_dedup **out, labse_error *err);
void lb_dedup_free(lb_dedup *d);

/* Forget every line (at a part start). O(slots). */
void lb_dedup_reset(lb_dedup *d);

/* Look the line p[len] up: its code (above). A NEW line is remembered (the oldest lines are
 * forgotten to make room); the slot of a NEW code may be reused by a later NEW line, so the
 * codes must be applied in line order (lb_dedup_apply). Never fails. */
uint32_t lb_dedup_line(lb_dedup *d, const char *p, size_t len);

/* Apply the codes of n consecutive lines (in line order) to their rows rows[n × dim], in
 * which every line that is not a duplicate holds its row: a NEW row is stored into
 * store[slot × dim ...], a COPY row is copied from there (byte-identical). store has
 * slots × dim floats, kept across windows. Scheduler thread. */
void lb_dedup_apply(const uint32_t *codes, size_t n, size_t dim, float *rows, float *store);

/* ==========================================================================================
 * Tokenizer pool (pipe_tokpool.c)
 * ========================================================================================== */

/* One window of consecutive lines, tokenised. Owned by the pool; the consumer reads it
 * between lb_tokpool_next() and lb_tokpool_release(). */
typedef struct lb_window {
    uint64_t first_line;       /* global index of line 0 */
    size_t n;                  /* lines */
    uint64_t byte_start, byte_end; /* input offsets covered (end = after the last '\n') */
    const int32_t *const *ids; /* [n] pointers to each line's ids ([CLS] ... [SEP]) */
    const int32_t *ntok;       /* [n] id counts (2..max_length) */
    uint64_t tokens, truncated, repaired, capped; /* sums over the window */
    uint64_t bad_records;      /* records encoded as empty lines (bad_record_empty) */
    int last;                  /* 1: the input ends with this window */
    /* --dedup ("Deduplication" above): [n] each line's code, NULL without dedup. A
     * duplicate (LB_DEDUP_COPY) has ntok 0 and no ids: it is not encoded. */
    const uint32_t *dedup;
    uint64_t duplicates;       /* lines of the window that are duplicates */
    char part_sha256[65];      /* hash_parts and this window ends a part: the sha256 of the
                                  part's input bytes [its byte_start, byte_end), taken by the
                                  reader thread; else "" */
} lb_window;

typedef struct lb_tokpool lb_tokpool;

typedef struct lb_tokpool_config {
    const lb_engine *engine;   /* tokenises with lb_engine_tokenize (thread-safe) */
    int threads;               /* >= 1 */
    size_t window, window_bytes;
    uint64_t first_line;       /* global index of the first line the reader returns */
    uint64_t grid;             /* windows also end at global line multiples of grid (the
                                  part rows; 0: none) - and always at multiples of window */
    int hash_parts;            /* 1: windows that end a part (grid) carry its input hash */
    const char *name;          /* the input in messages */
    lb_recx *recx;             /* structured input (not owned; NULL: plain lines) */
    int bad_record_empty;      /* 1: a bad record is an empty line (counted), 0: an error */
    lb_dedup *dedup;           /* --dedup: the reader thread's table (not owned; NULL: off),
                                  emptied at every window that starts on the grid */
} lb_tokpool_config;

/* Start the reader thread and the tokenizer threads. The pool takes ownership of r. */
labse_status lb_tokpool_start(const lb_tokpool_config *c, lb_reader *r, lb_tokpool **out,
                              labse_error *err);
/* The next window in input order, blocking; NULL at the end of input or after an error
 * (then lb_tokpool_finish reports it). Windows come one at a time: release before next. */
lb_window *lb_tokpool_next(lb_tokpool *p);
void lb_tokpool_release(lb_tokpool *p, lb_window *w);
/* Stop the threads (early or at the end), join them, free everything. Returns the first
 * error of the reader or a tokenizer thread. *tok_cpu_seconds: summed tokenizer time. */
labse_status lb_tokpool_finish(lb_tokpool *p, double *tok_cpu_seconds, labse_error *err);

/* ==========================================================================================
 * Output
 * ========================================================================================== */

/* The output side lives below the pipeline: the streaming .npy writer lb_npys (io/npy.h)
 * and manifest.json (io/manifest.h), both over io/atomic_file.h. */

/* pread all of len bytes of fd at off, EINTR and short reads retried (short only at EOF).
 * Returns the bytes read, or -1 with errno set. Reentrant. Defined in pipe_reader.c. */
ssize_t lb_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* open(path, O_RDONLY | O_CLOEXEC), retried on EINTR. Returns the descriptor (caller closes)
 * or -1 with errno set. Reentrant. Defined in pipe_reader.c. */
int lb_open_ro(const char *path);

/* ==========================================================================================
 * Merge (pipe_merge.c), shared with the many-files merge (pipe_files_merge.c)
 * ========================================================================================== */

/*
 * Read and check the shard folders dirs[0..n) of one input as lb_pipe_merge does (complete,
 * same input/model/dim/dtype/records/shard count N == n, each index once, contiguous bytes
 * and lines covering the input, and - when check_input is 1 - the input bytes under every
 * part when the input is at its path). ms[n] (zeroed by the caller) receives the manifests (the caller frees each with
 * lb_manifest_free, also on failure); by_index[n]: by_index[k] = the i of shard k.
 * *lines_out: total rows. Errors: LABSE_E_INVALID / LABSE_E_FORMAT / LABSE_E_IO naming the
 * folder. Reentrant.
 */
labse_status lb_merge_check(const char *const *dirs, int n, int check_input, lb_manifest *ms,
                            int *by_index, uint64_t *lines_out, labse_error *err);

/* Append the rows of the part file `path` (part p of manifest m) to w, checking its header
 * against the manifest and the file's sha256. Reentrant (w belongs to the caller). */
labse_status lb_merge_append_part(lb_npys *w, const char *path, const lb_manifest_part *p,
                                  const lb_manifest *m, labse_error *err);

#endif
