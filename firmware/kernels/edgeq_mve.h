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

/* edgeq_mul_qm_double on 4 lanes, exactly (CMSIS-NN's arm_requantize_mve), with the shift split into
 * left = max(shift, 0) and right = min(shift, 0) (precomputed by the lowerings that can): x << left (wrapping,
 * as the scalar code), SaturatingRoundingDoublingHighMul as VQRDMULH (the same value for every input), then
 * RoundingDivideByPOT(., -right) as VRSHL by the negative shift (round half up) after subtracting 1 from
 * negative lanes that are shifted (which turns round half up into half away from zero; VQADD keeps INT32_MIN,
 * which divides exactly). */
EDGEQ_INLINE int32x4_t edgeq_mve_requant_lr(int32x4_t x, int32x4_t m, int32x4_t left, int32x4_t right) {
  x = vqrdmulhq_s32(vshlq_s32(x, left), m);
  x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, right), 31));
  return vrshlq_s32(x, right);
}

/* edgeq_mul_qm_double on 4 lanes with the op's shifts (edgeq_mve_requant_lr). */
EDGEQ_INLINE int32x4_t edgeq_mve_requant_double(int32x4_t x, int32x4_t m, int32x4_t shift) {
  const int32x4_t zero = vdupq_n_s32(0);
  return edgeq_mve_requant_lr(x, m, vmaxq_s32(shift, zero), vminq_s32(shift, zero));
}

/* edgeq_mul_qm_single for a negative shift on 4 lanes, exactly: with total = 31 - shift = 32 + s (s >= 0),
 * (x * m + 2^(31 + s)) >> (32 + s) is VRMULH for s = 0; for s >= 1, 2^(31 + s) is a multiple of 2^32, so it is
 * the floored high word (VMULH) shifted right by s rounding half up (VRSHL by -s). */
EDGEQ_INLINE int32x4_t edgeq_mve_requant_single_neg(int32x4_t x, int32_t m, int32_t shift) {
  const int32_t s = -1 - shift;
  const int32x4_t mv = vdupq_n_s32(m);
  return s == 0 ? vrmulhq_s32(x, mv) : vrshlq_n_s32(vmulhq_s32(x, mv), -s);
}

/* Four int8 dot products of length n > 0 sharing one input: acc[j] = init[j] + sum_i x[i] * w[j * stride + i]
 * (j < 4), wrapping in int32 like the reference's accumulator. A tail-predicated low-overhead loop (DLSTP.8 /
 * LETP: the last step's inactive lanes neither load nor add) of one input vector and four weight vectors per
 * step, each VMLADAVA.S8 a 16-lane multiply-accumulate into a scalar (even registers: constraint "Te"). */
EDGEQ_INLINE void edgeq_mve_dot4(const int8_t *x, const int8_t *w, int32_t stride, int32_t n, const int32_t *init,
                                 int32_t *acc) {
  const int8_t *w0 = w, *w1 = w0 + stride, *w2 = w1 + stride, *w3 = w2 + stride;
  int32_t a0 = init[0], a1 = init[1], a2 = init[2], a3 = init[3];
  __asm__ volatile(
      "dlstp.8 lr, %[n]\n"
      "1:\n\t"
      "vldrb.8 q0, [%[x]], #16\n\t"
      "vldrb.8 q1, [%[w0]], #16\n\t"
      "vmladava.s8 %[a0], q0, q1\n\t"
      "vldrb.8 q1, [%[w1]], #16\n\t"
      "vmladava.s8 %[a1], q0, q1\n\t"
      "vldrb.8 q1, [%[w2]], #16\n\t"
      "vmladava.s8 %[a2], q0, q1\n\t"
      "vldrb.8 q1, [%[w3]], #16\n\t"
      "vmladava.s8 %[a3], q0, q1\n\t"
      "letp lr, 1b\n"
      : [x] "+r"(x), [w0] "+r"(w0), [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [a0] "+Te"(a0), [a1] "+Te"(a1),
        [a2] "+Te"(a2), [a3] "+Te"(a3)
      : [n] "r"(n)
      : "q0", "q1", "lr", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

/* One step of 16 input bytes of two windows (x0, x1) against four weight rows (w): eight VMLADAV(A) ``op`` into
 * a0..a3 / b0..b3, then n -= 16 (shared with conv_mve.h's whole-group loop). */
#define EDGEQ_MVE_DOT4X2_STEP(op)                 \
  "vldrb.8 q0, [%[x0]], #16\n\t"                  \
  "vldrb.8 q1, [%[x1]], #16\n\t"                  \
  "vldrb.8 q2, [%[w]], #16\n\t"                   \
  op " %[a0], q0, q2\n\t" op " %[b0], q1, q2\n\t" \
  "vldrb.8 q2, [%[w]], #16\n\t"                   \
  op " %[a1], q0, q2\n\t" op " %[b1], q1, q2\n\t" \
  "vldrb.8 q2, [%[w]], #16\n\t"                   \
  op " %[a2], q0, q2\n\t" op " %[b2], q1, q2\n\t" \
  "vldrb.8 q2, [%[w]], #16\n\t"                   \
  op " %[a3], q0, q2\n\t" op " %[b3], q1, q2\n\t" \
  "subs %[n], %[n], #16\n\t"
/* Four int8 dot products for each of two inputs x0 = x, x1 = x + n: u[j] = sum_i x0[i] * w_j[i],
 * v[j] = sum_i x1[i] * w_j[i] (j < 4, i < n; n > 0 a multiple of 16), wrapping in int32 like the reference's
 * accumulator. The four weight rows are interleaved in blocks of 16 (w_0[0..16) w_1[0..16) w_2[0..16)
 * w_3[0..16) w_0[16..32) ...), so one post-incremented pointer walks them. Per step: two input vectors, four
 * weight vectors, eight VMLADAVA.S8 into scalars (the first step VMLADAV, which starts them); eight
 * accumulators take every even register, LR included, so the loop counts with SUBS/BNE rather than a
 * low-overhead loop. Returns the weight pointer past the n / 16 blocks (the next group of four rows). */
EDGEQ_INLINE const int8_t *edgeq_mve_dot4x2(const int8_t *x, const int8_t *w, int32_t n, int32x4_t *u,
                                            int32x4_t *v) {
  int32_t a0, a1, a2, a3, b0, b1, b2, b3;
  const int8_t *x1;
  int32x4_t ru, rv;
  __asm__ volatile(
      "add %[x1], %[x0], %[n]\n\t"
      EDGEQ_MVE_DOT4X2_STEP("vmladav.s8")
      "beq 2f\n"
      "1:\n\t"
      EDGEQ_MVE_DOT4X2_STEP("vmladava.s8")
      "bne 1b\n"
      "2:\n\t"
      "vmov %q[ru][2], %q[ru][0], %[a0], %[a2]\n\t"
      "vmov %q[ru][3], %q[ru][1], %[a1], %[a3]\n\t"
      "vmov %q[rv][2], %q[rv][0], %[b0], %[b2]\n\t"
      "vmov %q[rv][3], %q[rv][1], %[b1], %[b3]\n"
      : [x0] "+r"(x), [w] "+r"(w), [n] "+r"(n), [x1] "=&r"(x1), [a0] "=&Te"(a0), [a1] "=&Te"(a1),
        [a2] "=&Te"(a2), [a3] "=&Te"(a3), [b0] "=&Te"(b0), [b1] "=&Te"(b1), [b2] "=&Te"(b2), [b3] "=&Te"(b3),
        [ru] "=&w"(ru), [rv] "=&w"(rv)
      :
      : "q0", "q1", "q2", "cc", "memory");
  *u = ru;
  *v = rv;
  return w;
}

/* table[x] for 4 int8 lanes x (sign-extended): table points at entry 0 of a table indexed -128..127, so the
 * byte offsets x * 4 are negative for x < 0 (the gather's 32-bit address arithmetic wraps, as the
 * architecture defines it). */
EDGEQ_INLINE int32x4_t edgeq_mve_lookup_s8(const int32_t *table, int32x4_t x) {
  return vldrwq_gather_shifted_offset_s32(table, vreinterpretq_u32_s32(x));
}
#endif

#endif /* EDGEQ_MVE_H */
