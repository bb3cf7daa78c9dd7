/* engine.h — the engine under the public API: one loaded model on its resolved device, with
 * its weights on every GPU it runs on and its run options, from which backends are made.
 *
 *   labse_model (api/labse.c)   a thin public handle around one lb_engine
 *   lb_engine_backend           a backend (backend.h) on the engine's device: the streaming
 *                               one (every GPU, batches in flight) or a session's (one GPU)
 *   pipeline (pipeline.h)       takes the engine: tokenises through it, reads its options
 *
 * Options: labse_options (include/labse.h) is the one struct of the run options (device,
 * threads, batch_tokens, max_length, window, precision); labse_default_options() their one default and
 * lb_engine_check_options() their one check. The engine keeps them resolved (max_length and precision = the
 * effective one).
 *
 * Thread-safety: an engine is immutable once opened (the round-robin counter of session GPUs
 * is atomic); share it between threads. Backends made from it are single-threaded each.
 * Internal (names start with lb_).
 */
#ifndef LB_ENGINE_H
#define LB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "labse.h"
#include "engine/backend.h"
#include "model/model.h"

typedef struct lb_engine lb_engine;

/* Check o: LABSE_E_INVALID with a message naming the option at fault. */
labse_status lb_engine_check_options(const labse_options *o, labse_error *err);

/* Load the model folder dir for the device o asks for (NULL = labse_default_options()),
 * uploading the weights to every GPU used. Caller owns *out (lb_engine_free). */
labse_status lb_engine_open(const char *dir, const labse_options *o, lb_engine **out,
                            labse_error *err);
void lb_engine_free(lb_engine *e); /* NULL-safe; every backend made from e must be gone */

/* Accessors (static storage of e; thread-safe). */
const lb_model *lb_engine_model(const lb_engine *e);
const labse_options *lb_engine_options(const lb_engine *e); /* max_length resolved */
labse_device lb_engine_device(const lb_engine *e);        /* CPU, CUDA or NULL */
const char *lb_engine_device_name(const lb_engine *e);    /* "cpu", "cuda:N (NAME)" */
/* The bf16 weights of the CPU encoder (precision bf16 on device CPU; made once at load,
 * immutable, shared by every session), else NULL. */
const struct lb_cpu_bf16 *lb_engine_cpu_bf16(const lb_engine *e);
/* The fp8 model's weights (precision fp8-model on device CPU; made once at load, cpu_fp8.h),
 * else NULL. Immutable; thread-safe. */
struct lb_cpu_fp8;
const struct lb_cpu_fp8 *lb_engine_cpu_fp8(const lb_engine *e);
/* "fp32", "bf16", "fp16", "fp8", "fp8-model" or "default": the API's names of the precisions. Static storage. */
const char *lb_precision_name(labse_precision p);
const char *lb_engine_id(const lb_engine *e);  /* realpath of the folder: for manifests */
int lb_engine_dim(const lb_engine *e);
int lb_engine_max_length(const lb_engine *e);  /* effective max tokens per text */

/* Tokenise one text with the model's tokenizer into ids[max_length]: [CLS] ... [SEP],
 * truncated. Returns the count (>= 2), 0 when out of memory. Thread-safe. */
size_t lb_engine_tokenize(const lb_engine *e, const char *text, size_t len, int32_t *ids,
                          labse_tok_info *info);

typedef enum lb_backend_kind {
    LB_BACKEND_STREAM = 0,  /* every GPU of the engine, 2 batches in flight on each; CPU: 1 */
    LB_BACKEND_SESSION = 1  /* one GPU (round-robin over the engine's GPUs per call), 2 batches
                               in flight (labse_encode); CPU: 1 */
} lb_backend_kind;

/* Make a backend on e's device. The caller owns *be and ends it with be->destroy(be->ctx);
 * e must outlive it. Buffers and workspaces are sized from e's batch_tokens. */
labse_status lb_engine_backend(const lb_engine *e, lb_backend_kind kind, lb_backend *be,
                               labse_error *err);

/* The implementations (backend_cpu.c, backend_null.c, backend_gpu.c: only in builds with a
 * GPU backend). */
labse_status lb_backend_cpu(const lb_engine *e, lb_backend *be, labse_error *err);
labse_status lb_backend_null(const lb_engine *e, lb_backend *be, labse_error *err);
/* The host buffers of the CPU and null backends (backend_cpu.c): bytes rounded up to 64,
 * 64-byte aligned, malloc'ed (NULL when out of memory); ctx unused. Thread-safe. */
void *lb_host_alloc64(void *ctx, size_t bytes);
void lb_host_free64(void *ctx, void *p);
labse_status lb_backend_gpu(const lb_engine *e, lb_backend_kind kind, lb_backend *be,
                            labse_error *err);

#ifdef LABSE_HAVE_GPU
struct lb_gpu_weights;
/* GPUs e runs on (0 on the CPU), their weights, and the GPU the next session takes. */
int lb_engine_gpu_count(const lb_engine *e);
const struct lb_gpu_weights *lb_engine_gpu_weights(const lb_engine *e, int i);
int lb_engine_next_gpu(const lb_engine *e);
#endif

/* The engine behind a public model handle (api/labse.c). */
const lb_engine *lb_model_engine(const labse_model *m);

/* The backend a session owns (api/labse.c), for tests that wrap its calls to inject faults
 * (tests/test_encode_inflight.c). The session keeps ownership; no batch may be in flight
 * while the caller swaps its function pointers. */
lb_backend *lb_session_backend(labse_session *s);

#endif
