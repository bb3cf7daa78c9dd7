/* gpu_attention.h — the attention step of the GPU forward pass: which kernel runs
 * (kernels/attention.cu, the tiled one, or kernels/attention_short.cu, one warp per
 * (sequence, head)), decided per batch. Internal; include after gpu_rt.h. */
#ifndef LB_GPU_ATTENTION_H
#define LB_GPU_ATTENTION_H

#include "gpu/gpu_rt.h"

typedef enum lb_attn_kernel { LB_ATTN_TILED = 0, LB_ATTN_SHORT = 1 } lb_attn_kernel;

/* The kernel for a batch whose longest sequence is max_len: the environment variable
 * LABSE_GPU_ATTN = auto (or unset, or empty) | tiled | short; auto takes the short kernel when
 * max_len <= LB_ATTN_SHORT_MAX_LEN (the reasoning is in kernels/attention_short.cu). Both
 * kernels compute the same function, so the choice changes speed and rounding noise only.
 * LABSE_E_INVALID naming the variable for another value. Reads the environment at every call
 * (no state); thread-safe as getenv is (nothing in the library calls setenv). */
labse_status lb_gpu_attn_choose(int max_len, lb_attn_kernel *out, labse_error *err);

/* ctx [T, H] = attention(qkv [T, 3H]) over the packed batch (cu_seqlens [n + 1], device), on
 * `stream`, with the kernel lb_gpu_attn_choose picks; the arguments as lb_attention's
 * (kernels/attention.cuh). LABSE_E_CUDA naming the launch on a launch error. */
labse_status lb_gpu_attention(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens, int n,
                              int max_len, int heads, int head_dim, cudaStream_t stream,
                              labse_error *err);

/* The fp8 form (for the fp8 attention-output GEMM), with the same choice of kernel:
 * ctx8 [T, H] = the E4M3 codes E4M3_satfinite(float(fp16_rn(ctx)) * inv_scale) of the fp16
 * context lb_gpu_attention would write (lb_attention_fp8, kernels/attention.cuh; one static
 * factor for the call, no per-token scale). ctx8: device, 16-byte aligned; inv_scale finite and
 * > 0; the rest as lb_gpu_attention. LABSE_E_CUDA naming the launch on a launch error or an
 * invalid argument (cudaErrorInvalidValue). Unproven on hardware (kernels/README.md). */
labse_status lb_gpu_attention_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                                  const int32_t *cu_seqlens, int n, int max_len, int heads,
                                  int head_dim, cudaStream_t stream, labse_error *err);

#endif
