/* edgeq: shared integer arithmetic for the int8 kernels (portable C99).
 *
 * Two requantization flavours exist in the TFLite family and they disagree in the last bit:
 *  - double rounding (gemmlowp, TFLM, CMSIS-NN): rounding doubling high multiply, then a rounding
 *    right shift;
 *  - single rounding (TFLITE_SINGLE_ROUNDING; LiteRT uses it in some reference kernels): one 64-bit
 *    multiply, add half, shift once.
 * Every kernel that requantizes takes a `rounding` flag (EDGEQ_ROUND_SINGLE / EDGEQ_ROUND_DOUBLE) chosen
 * at generation time per op.
 */
#ifndef EDGEQ_COMMON_H
#define EDGEQ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#define EDGEQ_ROUND_DOUBLE 0
#define EDGEQ_ROUND_SINGLE 1

#if defined(__GNUC__)
#define EDGEQ_INLINE static inline __attribute__((always_inline))
#else
#define EDGEQ_INLINE static inline
#endif

/* A helper function defined in a header: static, so the compiler inlines it or not exactly as it would
 * a file's own static function, and not reported as unused in a file that includes it without calling it. */
#if defined(__GNUC__)
#define EDGEQ_HELPER static __attribute__((unused))
#define EDGEQ_NOINLINE __attribute__((noinline))
#else
#define EDGEQ_HELPER static
#define EDGEQ_NOINLINE
#endif

EDGEQ_INLINE int32_t edgeq_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
EDGEQ_INLINE int32_t edgeq_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
EDGEQ_INLINE int32_t edgeq_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul */
EDGEQ_INLINE int32_t edgeq_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1LL - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
  }
}

/* gemmlowp RoundingDivideByPOT: round half away from zero */
EDGEQ_INLINE int32_t edgeq_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

EDGEQ_INLINE int32_t edgeq_mul_qm_double(int32_t x, int32_t m, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return edgeq_rdbpot(edgeq_srdhm((int32_t)((uint32_t)x << left), m), right);
}

EDGEQ_INLINE int32_t edgeq_mul_qm_single(int32_t x, int32_t m, int32_t shift) {
  const int32_t total = 31 - shift;
  const int64_t round = (int64_t)1 << (total - 1);
  return (int32_t)(((int64_t)x * (int64_t)m + round) >> total);
}

/* MultiplyByQuantizedMultiplier in the flavour the op was generated for. */
EDGEQ_INLINE int32_t edgeq_requant(int32_t x, int32_t m, int32_t shift, int32_t rounding) {
  return rounding == EDGEQ_ROUND_SINGLE ? edgeq_mul_qm_single(x, m, shift) : edgeq_mul_qm_double(x, m, shift);
}

EDGEQ_INLINE int8_t edgeq_sat_s8(int32_t x) { return (int8_t)edgeq_clamp_i32(x, -128, 127); }

/* The number of leading zero bits of x (32 for 0). */
EDGEQ_HELPER int32_t edgeq_clz32(uint32_t x) {
#if defined(__GNUC__)
  return x ? __builtin_clz(x) : 32;
#else
  int32_t n = 0;
  if (!x) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
#endif
}

#endif /* EDGEQ_COMMON_H */
