/* act_bound.h — provable bounds on two activations of an encoder layer, from its weights alone:
 * the static scales of precision fp8 (GPU, and the CPU's model of it).
 *
 * Why a bound and not a per-token amax: E4M3 is floating point, so a value's relative error
 * (2^-4 at most) does not depend on the scale as long as the value neither saturates (|v|·448/B
 * <= 448, which a true bound B guarantees) nor falls into the subnormal range (|v| < B·2^-6/448,
 * i.e. below B/28,672). These bounds are loose (~30x the largest value seen on real text), far
 * inside that range, and with them the producing kernels (attention, the up GEMM's epilogue)
 * can write E4M3 elementwise instead of a separate row-wise pass. Measured: the same accuracy
 * as per-token scales (README "Precision"). No bound depends on any input. */
#ifndef LB_ACT_BOUND_H
#define LB_ACT_BOUND_H

#include "model/model.h"

/* The margin on top of the exact bounds: the GEMMs' operands may be E4M3-rounded (each up to
 * 2^-4 larger: (1 + 2^-4)^2 = 1.13 on a product), fp16 rounding of inputs and outputs (2^-11
 * each) and fp32 accumulation; 1.25 covers all of them. */
#define LB_ACT_BOUND_MARGIN 1.25f

/* For layer l of m (0 <= l < m->cfg.layers):
 *   *ctx: a bound on |attention context| over every element and any input. The context of a
 *     token is a convex combination (softmax weights) of V rows, so |ctx_c| <= max_t |V_tc|, and
 *     V_c = sum_i Wv[c,i] x_i + bv_c with x the layer's input, a LayerNorm output:
 *     |x_i| <= |gamma_i| sqrt(H - 1) + |beta_i| (a normalised vector of H values has no element
 *     beyond sqrt(H - 1) in magnitude).
 *   *big: a bound on |act(up projection)| (the FFN's intermediate activation), from the same
 *     rule on the attention LayerNorm's output; act is GELU, tanh, ReLU or identity, none
 *     exceeding max(|u|, 1) in magnitude.
 * Both include LB_ACT_BOUND_MARGIN. Returns 0, or -1 when a bound is not finite (weights with
 * inf/NaN or beyond fp32 range; the caller reports it). Pure; thread-safe. */
int lb_act_bounds(const lb_model *m, int l, float *ctx, float *big);

#endif
