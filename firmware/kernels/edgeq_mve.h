/* edgeq: helpers for the kernels' Helium paths (Armv8.1-M with the M-profile Vector Extension: EDGEQ_MVE,
 * see edgeq_common.h; Cortex-M55/M85, -mcpu=cortex-m55). Include it from a kernel source; it defines nothing
 * on cores without MVE.
 *
 * Lanes: a Q register holds 16 int8, 8 int16 or 4 int32 lanes. A row of n elements is walked in full
 * vectors, then one tail under a VCTP predicate (loads and stores of inactive lanes do not touch memory). */
#ifndef EDGEQ_MVE_H
#define EDGEQ_MVE_H
#include "edgeq_common.h"

#if EDGEQ_MVE
#include <arm_mve.h>

/* The output stage shared by ADD/SUB's table path and MUL's fast path (elementwise.h), on 4 int32 lanes:
 *   u   = VRMULH(t, m)                     (SMMULR: the high word of t * m, rounded)
 *   out = clamp((u + (u >> 31) + rb) >> e, lo, hi)   (VSHL by -e: an arithmetic shift, no rounding). */
EDGEQ_INLINE int32x4_t edgeq_mve_smmulr_finish(int32x4_t t, int32x4_t m, int32x4_t rb, int32_t e, int32x4_t lo,
                                                int32x4_t hi) {
  const int32x4_t u = vrmulhq_s32(t, m);
  const int32x4_t v = vshlq_r_s32(vaddq_s32(vaddq_s32(u, rb), vshrq_n_s32(u, 31)), -e);
  return vminq_s32(vmaxq_s32(v, lo), hi);
}

/* edgeq_mul_qm_double on 4 lanes, exactly (CMSIS-NN's arm_requantize_mve): x << max(shift, 0) (wrapping, as
 * the scalar code), SaturatingRoundingDoublingHighMul as VQRDMULH (the same value for every input), then
 * RoundingDivideByPOT(., max(-shift, 0)) as VRSHL by the negative shift (round half up) after subtracting 1
 * from negative lanes that are shifted (which turns round half up into half away from zero; VQADD keeps
 * INT32_MIN, which divides exactly). */
EDGEQ_INLINE int32x4_t edgeq_mve_requant_double(int32x4_t x, int32x4_t m, int32x4_t shift) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t right = vminq_s32(shift, zero); /* -(right shift), <= 0 */
  x = vqrdmulhq_s32(vshlq_s32(x, vmaxq_s32(shift, zero)), m);
  x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, right), 31));
  return vrshlq_s32(x, right);
}

/* table[x] for 4 int8 lanes x (sign-extended): table points at entry 0 of a table indexed -128..127, so the
 * byte offsets x * 4 are negative for x < 0 (the gather's 32-bit address arithmetic wraps, as the
 * architecture defines it). */
EDGEQ_INLINE int32x4_t edgeq_mve_lookup_s8(const int32_t *table, int32x4_t x) {
  return vldrwq_gather_shifted_offset_s32(table, vreinterpretq_u32_s32(x));
}
#endif

#endif /* EDGEQ_MVE_H */
