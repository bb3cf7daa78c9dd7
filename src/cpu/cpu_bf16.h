/* cpu_bf16.h — the bf16 GEMMs of the CPU encoder (precision bf16): the model's linear weights
 * converted once to bfloat16, and y = x W^T with x rounded to bfloat16 before the GEMM and the
 * products accumulated in fp32, through oneDNN's matmul (AVX512-BF16 / AMX kernels).
 * Everything else of the forward pass (LayerNorm, softmax, GELU, attention's QK^T and PV,
 * pooling, bias) stays fp32 in cpu_forward.c.
 *
 * Built only with oneDNN (LABSE_HAVE_DNNL); without it lb_cpu_bf16_new says so. */
#ifndef LB_CPU_BF16_H
#define LB_CPU_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

typedef struct lb_cpu_bf16 lb_cpu_bf16;

/* Check that this build and this CPU can run bf16 GEMMs at full speed: oneDNN present, its
 * effective ISA has AVX512-BF16 (or AMX), and its matmul for a LaBSE-shaped problem is a JIT
 * kernel, not the reference loop. LABSE_OK, or LABSE_E_UNSUPPORTED with the reason (which
 * names the option precision). Thread-safe. */
labse_status lb_cpu_bf16_check(labse_error *err);

/* Convert every linear weight of m (encoder layers and Dense modules) to bf16 (round to
 * nearest even) and make one matmul primitive per (in, out) shape, with the token count a run
 * time dimension. *out is owned by the caller (lb_cpu_bf16_free); m must outlive it (the
 * weights are looked up by their lb_linear's address). Memory: 2 bytes per weight.
 * Thread-safe; the result is immutable and may be shared by any number of threads. */
labse_status lb_cpu_bf16_new(const lb_model *m, lb_cpu_bf16 **out, labse_error *err);
void lb_cpu_bf16_free(lb_cpu_bf16 *p);

/* Round n floats to bfloat16 (nearest even; NaN stays NaN). x [n] in, y [n] out.
 * OpenMP-parallel over the current team size. */
void lb_f32_to_bf16(const float *x, uint16_t *y, size_t n);

/* y[T, lin->out] = bf16(x[T, lin->in]) · bf16(W)^T in fp32, without bias or activation.
 * xb: caller's scratch of at least T * lin->in elements (receives bf16(x)). lin must be one of
 * the model's linears. Threads: the caller's OpenMP team size. Thread-safe (p is read only;
 * each call makes its own oneDNN stream). LABSE_E_INVALID for an unknown linear; a oneDNN
 * failure is LABSE_E_UNSUPPORTED with its status. */
labse_status lb_cpu_bf16_gemm(const lb_cpu_bf16 *p, const lb_linear *lin, const float *x, int T,
                              uint16_t *xb, float *y, labse_error *err);

#endif
