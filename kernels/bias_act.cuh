/* bias_act.cuh — launcher of the bias + activation kernel (bias_act.cu): the FFN's GELU (erf)
 * and the Dense layers' tanh/ReLU. */
#ifndef LB_BIAS_ACT_CUH
#define LB_BIAS_ACT_CUH

#include "cuda_compat.h"

LB_EXTERN_C_BEGIN

/* Activation codes: the same numbers as lb_act in src/model/model.h. */
#define LB_KACT_IDENTITY 0
#define LB_KACT_TANH 1
#define LB_KACT_GELU 2   /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
#define LB_KACT_RELU 3
#define LB_KACT_GELU_TANH 4  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */

/* y[r, c] = act(y[r, c] + bias[c]) in place, math in fp32, one fp16 rounding.
 *   y [rows, N] fp16 in/out (row-major, contiguous);  bias [N] fp16 or NULL.
 * Device pointers; any rows, N >= 1. cudaErrorInvalidValue for an unknown act. Enqueued on
 * `stream`; returns the launch's error. Thread-safe. */
cudaError_t lb_bias_act(lb_half *y, const lb_half *bias, int rows, int N, int act,
                        cudaStream_t stream);

LB_EXTERN_C_END

#endif
