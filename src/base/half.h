/* half.h — IEEE binary16 <-> binary32 conversions on the host. Pure functions; thread-safe. */
#ifndef LB_HALF_H
#define LB_HALF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* IEEE binary32 -> binary16, round to nearest even; overflow -> ±inf, NaN -> quiet NaN
 * (sign kept), subnormal results exact per rounding (what numpy's astype(float16) does). */
uint16_t lb_f32_to_f16(float f);

/* IEEE binary16 -> binary32, exact (every half is a float). */
float lb_f16_to_f32(uint16_t h);

#ifdef __cplusplus
}
#endif

#endif
