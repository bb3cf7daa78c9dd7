/* mine_emb.h — read-only embedding matrices for mining and evaluation (knn.c, margin.c,
 * `labse mine`, `labse eval`), whatever their storage:
 *   - a float32, float16 or bfloat16 ('<u2' bits) .npy file (memory-mapped, never copied
 *     whole); int8/uint8 files and folders (quantised outputs, io/quant.h) are refused;
 *   - a part folder of `labse encode`: manifest.json {"dim", "dtype", "parts": [{"file",
 *     "first_line", "rows"}, ...]} beside the .npy parts (each part mapped);
 *   - a float32 array in memory (embeddings just computed from text);
 *   - a row generator (benchmarks: corpora that exist nowhere).
 * The k-NN reads rows only through lb_emb_fetch_normalized(), a block at a time, so what is
 * resident is the caller's block buffer, not the corpus (mapped pages are file-backed page
 * cache, reclaimable by the kernel).
 *
 * Row limits: at most LB_EMB_MAX_ROWS rows (row indices are uint32_t in the k-NN tables,
 * UINT32_MAX is their "empty" sentinel).
 *
 * Thread-safety: an lb_emb is immutable after creation; any number of threads may fetch from
 * it concurrently. Create and free from one thread.
 *
 * Not part of the public API. Internal names start with lb_.
 */
#ifndef LB_MINE_EMB_H
#define LB_MINE_EMB_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "io/lines.h"

#define LB_EMB_MAX_ROWS ((uint64_t)UINT32_MAX - 1)

typedef struct lb_emb lb_emb;

/* Row generator: write rows [row0, row0 + n) as float32 into out[n * dim]. Must be
 * deterministic and thread-safe (called from several threads at once). */
typedef void (*lb_emb_gen_fn)(void *ctx, uint64_t row0, size_t n, size_t dim, float *out);

/*
 * Open `path`: a .npy file ('<f4' or '<f2', 2-D, C order) or a folder holding manifest.json.
 * Parts must be listed in order with first_line = the sum of the rows before them (no gap, no
 * overlap), each a 2-D .npy of (rows, dim) of the manifest's dtype; a part's "file" is a name
 * relative to the folder without "..". Every file is checked for its exact size.
 *   out  receives the matrix (caller frees with lb_emb_free()). Untouched on failure.
 * Errors: LABSE_E_IO (open/map), LABSE_E_FORMAT (bad header, size, manifest, 1-D array,
 * more than LB_EMB_MAX_ROWS rows, dim 0), LABSE_E_NOMEM. Messages name the file.
 */
labse_status lb_emb_open(const char *path, lb_emb **out, labse_error *err);

/*
 * Open the part folders dirs[n] (n >= 1, each as lb_emb_open opens a folder, except that its
 * first part may start at any line: a shard's folder) as one matrix, their rows one after the
 * other in this order (a many-files output: pipeline.h
 * lb_files_collect gives the folders). All must share dim. `name` (copied) is used in
 * messages. Errors as lb_emb_open, plus LABSE_E_FORMAT when the dims differ.
 */
labse_status lb_emb_open_folders(const char *name, const char *const *dirs, size_t n,
                                 lb_emb **out, labse_error *err);

/* Wrap rows * dim float32 values. take_ownership: 1 = lb_emb_free() frees data with free();
 * 0 = data must outlive the lb_emb. `name` (copied) is used in messages. */
labse_status lb_emb_wrap(float *data, uint64_t rows, size_t dim, int take_ownership,
                         const char *name, lb_emb **out, labse_error *err);

/* A generated matrix (see lb_emb_gen_fn); ctx must outlive the lb_emb. */
labse_status lb_emb_generator(uint64_t rows, size_t dim, lb_emb_gen_fn fn, void *ctx,
                              const char *name, lb_emb **out, labse_error *err);

/*
 * Encode n lines with a model session (labse_encode, chunks of 4096 lines) into a new
 * in-memory matrix of n x labse_model_dim rows. Resident: n * dim floats (use `labse encode`
 * then lb_emb_open() for corpora that do not fit). Errors from the encoder, prefixed with the
 * line range; LABSE_E_FORMAT if the encoder returns a non-finite value.
 */
labse_status lb_emb_encode_lines(labse_session *s, size_t dim, const lb_line *lines, size_t n,
                                 const char *name, lb_emb **out, labse_error *err);

/* Free (NULL is a no-op): unmaps files, frees owned data. */
void lb_emb_free(lb_emb *e);

uint64_t lb_emb_rows(const lb_emb *e);
size_t lb_emb_dim(const lb_emb *e);
const char *lb_emb_name(const lb_emb *e);

/* Rows [row0, row0 + n) as float32 (float16 is widened exactly) into out[n * dim].
 * row0 + n must be <= rows. Thread-safe. */
void lb_emb_read(const lb_emb *e, uint64_t row0, size_t n, float *out);

/*
 * Check every row once: all values finite and the norm not zero. Runs on `threads` OpenMP
 * threads (0 = default). Errors (LABSE_E_FORMAT) name the matrix and the first bad row
 * (0-based): "A.npy: row 17 has a non-finite value (NaN or inf)" / "... has zero norm".
 */
labse_status lb_emb_validate(const lb_emb *e, int threads, labse_error *err);

/* Rows [row0, row0 + n) L2-normalised: out[i] = x_i / ||x_i|| (norm accumulated in double,
 * then one float multiply by the rounded reciprocal). Rows must have passed lb_emb_validate.
 * Thread-safe. */
void lb_emb_fetch_normalized(const lb_emb *e, uint64_t row0, size_t n, float *out);

#endif
