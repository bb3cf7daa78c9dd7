/* cpu_fp8.h — the GPU's precision fp8 modelled on the CPU (precision fp8-model): the same E4M3
 * roundings and scales as src/gpu/gpu_forward.c's layer_fp8, with the GEMMs in fp32 on
 * OpenBLAS (E4M3 codes are exact in fp32 and so are their products; only the order of the fp32
 * sums differs from the GPU's). No speed-up: it exists to measure what fp8 costs in accuracy
 * (cosines, `labse eval` mining scores) at CPU speed on a machine without a GPU, and as a
 * tighter oracle for the GPU fp8 path than fp32.
 *
 * Per encoder layer, the four big GEMMs y = (codes_x · codes_wᵀ) · s_w[n] · s_x[t] + b:
 *   weights: per output channel, s_w = amax/448, codes = E4M3(w · 448/amax) (gpu_model.c);
 *   QKV and FFN-up inputs (LayerNorm outputs): rounded to fp16, then per token
 *     s_x = amax/448 over the fp16 row, codes = E4M3(x16 · 448/amax) (lb_add_layernorm_fp8);
 *   attention-out input (the context): rounded to fp16, codes = E4M3(ctx16 · 448/B_ctx),
 *     s_x = B_ctx/448 for every token, B_ctx the layer's static bound (model/act_bound.h);
 *   FFN-down input (the activation's fp32 output): codes = E4M3(a · 448/B_big), s_x = B_big/448.
 * The activation of the up GEMM is GELU in its tanh form when the model's is GELU (the GPU's
 * default: cuBLASLt's GELU epilogue, LABSE_GPU_GELU). Everything else fp32 as in fp32. */
#ifndef LB_CPU_FP8_H
#define LB_CPU_FP8_H

#include <stddef.h>

#include "model/model.h"

typedef struct lb_cpu_fp8 lb_cpu_fp8;

/* Quantise the four GEMM weights of every layer of m and compute the static bounds. *out is
 * owned by the caller (lb_cpu_fp8_free); m must outlive it (weights are looked up by their
 * lb_linear's address). Memory: 4 bytes per weight (codes held as floats for sgemm) + scales.
 * LABSE_E_NOMEM, or LABSE_E_INVALID when a layer's weights give no finite bound.
 * Thread-safe; the result is immutable and may be shared by any number of threads. */
labse_status lb_cpu_fp8_new(const lb_model *m, lb_cpu_fp8 **out, labse_error *err);
void lb_cpu_fp8_free(lb_cpu_fp8 *p);

/* Floats of scratch lb_cpu_fp8_gemm needs for T tokens of K inputs (the input's codes as
 * floats, its scales, and its fp16 copy and E4M3 codes). Pure. */
size_t lb_cpu_fp8_scratch_floats(int T, int K);

/* If lin is one of the layers' four GEMMs: y[T, lin->out] = the fp8 GEMM above (without bias
 * or activation) of x[T, lin->in], returning 1; scratch: the caller's, at least
 * lb_cpu_fp8_scratch_floats(T, lin->in) floats, 4-byte aligned. Returns 0 (nothing done) for
 * any other linear (the Dense head stays fp32). Threads: the caller's OpenMP team and
 * OpenBLAS's. Thread-safe. */
int lb_cpu_fp8_gemm(const lb_cpu_fp8 *p, const lb_linear *lin, const float *x, int T,
                    float *scratch, float *y);

/* The activation the fp8 model runs after the up GEMM for a model whose activation is act. */
lb_act lb_cpu_fp8_act(lb_act act);

#endif
