/* encoder.h — the forward pass on the CPU: the fast fp32 backend (OpenBLAS + OpenMP) and the
 * naive reference (double accumulators) that tests use as the oracle.
 *
 * A batch is padding-free: the token ids of n sequences back to back, with cu_seqlens[n+1]
 * offsets (cu_seqlens[0] = 0, sequence i is ids[cu_seqlens[i] .. cu_seqlens[i+1])).
 * Positions restart at 0 for every sequence; token types are all 0. */
#ifndef LB_ENCODER_H
#define LB_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct lb_batch {
    int n;                      /* sequences */
    const int32_t *ids;         /* [cu_seqlens[n]] */
    const int32_t *cu_seqlens;  /* [n + 1] */
} lb_batch;

/* Validate a batch against the model: offsets increasing, lengths 1..max_position, ids in
 * 0..vocab_size-1. LABSE_E_INVALID with a message otherwise. */
labse_status lb_batch_check(const lb_model *m, const lb_batch *b, labse_error *err);

/* Working memory of the fast CPU forward; grows on demand. One per thread. */
typedef struct lb_cpu_ws lb_cpu_ws;
lb_cpu_ws *lb_cpu_ws_new(void);
void lb_cpu_ws_free(lb_cpu_ws *ws);

/* Run ws's forwards in bf16 with these weights (cpu_bf16.h; made from the same model), or in
 * fp32 with NULL (the default). Not owned: w must outlive ws's use. Not thread-safe on ws. */
struct lb_cpu_bf16;
void lb_cpu_ws_set_bf16(lb_cpu_ws *ws, const struct lb_cpu_bf16 *w);
/* Run ws's forwards as the GPU's precision fp8 computes them (cpu_fp8.h, made from the same
 * model), or in fp32 (NULL). Not owned; must outlive the forwards. */
struct lb_cpu_fp8;
void lb_cpu_ws_set_fp8(lb_cpu_ws *ws, const struct lb_cpu_fp8 *w);

/* Fast forward, fp32 (or bf16 GEMMs: lb_cpu_ws_set_bf16). out: [n, cfg.dim] final embeddings (pooled, Dense, normalised).
 * hidden_out: optional [total, hidden] last-layer hidden states (NULL to skip).
 * threads: OpenMP/OpenBLAS threads (0 = all). */
labse_status lb_cpu_forward(const lb_model *m, lb_cpu_ws *ws, const lb_batch *b, int threads,
                            float *out, float *hidden_out, labse_error *err);

/* Naive reference forward (the oracle): straightforward loops, double accumulators, erf GELU,
 * exact softmax; single-threaded and slow; same outputs as lb_cpu_forward. */
labse_status lb_ref_forward(const lb_model *m, const lb_batch *b, float *out, float *hidden_out,
                            labse_error *err);

#endif
