/* edgeq: helpers for the kernels' DSP-extension paths (Armv7E-M / Armv8-M Mainline with the DSP
 * extension: EDGEQ_DSP, see edgeq_common.h). Include it from a kernel source; it defines nothing on
 * cores without the extension. */
#ifndef EDGEQ_DSP_H
#define EDGEQ_DSP_H
#include "edgeq_common.h"

#if EDGEQ_DSP
#include <arm_acle.h>

/* __sxtb16(__ror(v, 8)) in one instruction (not every arm_acle.h has __ror, and GCC does not fuse it):
 * bytes 1 and 3 of v sign-extended into the low and high halfwords. */
EDGEQ_INLINE int32_t edgeq_sxtb16_ror8(int32_t v) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

/* SMMULR: the high word of a * b, rounded ((a * b + 2^31) >> 32). */
EDGEQ_INLINE int32_t edgeq_smmulr(int32_t a, int32_t b) {
  int32_t r;
  __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
}
#endif

#endif /* EDGEQ_DSP_H */
