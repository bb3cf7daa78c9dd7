/* attention_short.cuh — launchers of the short-sequence attention kernel (attention_short.cu):
 * the same maths and interface as lb_attention and lb_attention_fp8 (attention.cuh), one warp
 * per (sequence, head). Unproven on hardware (kernels/README.md). */
#ifndef LB_ATTENTION_SHORT_CUH
#define LB_ATTENTION_SHORT_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* The batch's longest sequence up to which the automatic choice (src/gpu/gpu_attention.c) takes
 * this kernel over the tiled one; the reasoning is in attention_short.cu. */
#define LB_ATTN_SHORT_MAX_LEN 64

/* ctx[i, h*d ...] = softmax_j(q_i . k_j / sqrt(d)) v_j over each sequence of the packed batch,
 * exactly as lb_attention (fp16 in and out, fp32 softmax):
 *   ctx [T, H] fp16 out;  qkv [T, 3H] fp16 (rows [q | k | v]);  cu_seqlens [n + 1] int32 device,
 *   non-decreasing; head_dim 16, 32, 64 or 128 (cudaErrorInvalidValue otherwise). Device
 *   pointers, 16-byte aligned. Correct for any length (a sequence of length L costs one warp
 *   ceil(L/16)^2 steps: fast only for short ones); a sequence of length 0 is skipped.
 * Enqueued on `stream`; returns the launch's error. Thread-safe (no state).
 *
 * CUDA Graphs: the grid is (n, ceil(heads / warps per block)) and nothing else of the launch
 * depends on the batch (no max_len), so a graph captured for a token bucket T_b can launch with
 * n = N_b, any upper bound on the batch's sequence count (T_b always is one: every sequence has
 * a token; the context's cap_seq is a tighter one), and cu_seqlens padded to N_b + 1 entries
 * with the last offset repeated: the padding sequences have length 0 and their warps exit after
 * reading two offsets. A replay then only needs the new ids / cu_seqlens in the same device
 * buffers. The padding blocks cost a block launch each (N_b - n of them per head group), so a
 * tight N_b matters; alternatively keep n exact and set the captured node's grid per replay
 * (cudaGraphExecKernelNodeSetParams). The choice between this kernel and the tiled one depends
 * on the batch's longest sequence (src/gpu/gpu_attention.h): one graph per (bucket, kernel). */
cudaError_t lb_attention_short(lb_half *ctx, const lb_half *qkv, const int32_t *cu_seqlens, int n,
                               int heads, int head_dim, cudaStream_t stream);

/* The fp8 form, as lb_attention_fp8 (attention.cuh) is lb_attention's: in place of ctx the
 * E4M3 codes ctx8[i, c] = E4M3_satfinite(float(fp16_rn(o[i, c])) * inv_scale) of exactly the
 * fp16 values lb_attention_short writes (kernels/attn_out.cuh).
 *   ctx8 [T, H] E4M3 codes out, 16-byte aligned;  inv_scale finite and > 0 (else, whatever n,
 *   cudaErrorInvalidValue);  the other arguments as lb_attention_short's.
 * The CUDA Graphs notes above hold as they are: inv_scale is one value per call (a layer's
 * static scale, fixed at load), so a captured node keeps it across replays; it depends on no
 * batch. Enqueued on `stream`; returns the launch's error. Thread-safe. Unproven on hardware:
 * it passes on the emulator only (kernels/README.md). */
cudaError_t lb_attention_short_fp8(uint8_t *ctx8, float inv_scale, const lb_half *qkv,
                                   const int32_t *cu_seqlens, int n, int heads, int head_dim,
                                   cudaStream_t stream);

LB_EXTERN_C_END

#endif
