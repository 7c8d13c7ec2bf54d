/* edgeq: gemmlowp's fixed-point primitives on raw int32 values (portable C99), shared by the kernels built
 * on the fixed-point exp / reciprocal: SOFTMAX (softmax.c) and the fixed-point LOGISTIC / TANH
 * (activations.c).
 *
 * A value in "Qm" has m integer bits and 31 - m fractional bits. Products use the rounding doubling
 * high multiply (edgeq_srdhm), so Qa * Qb is Q(a+b). The functions below follow gemmlowp's
 * fixedpoint.h operation by operation; any reordering would change the last bit. */
#ifndef EDGEQ_FIXEDPOINT_H
#define EDGEQ_FIXEDPOINT_H
#include "edgeq_common.h"

/* x * 2^e for 0 < e < 31, saturating to the int32 range (gemmlowp SaturatingRoundingMultiplyByPOT). */
EDGEQ_HELPER int32_t edgeq_fx_sat_shl(int32_t x, int e) {
  const int32_t threshold = (int32_t)((UINT32_C(1) << (31 - e)) - 1u);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return (int32_t)((uint32_t)x << e);
}

/* (a + b) / 2 rounded half away from zero (gemmlowp RoundingHalfSum). */
EDGEQ_HELPER int32_t edgeq_fx_rounding_half_sum(int32_t a, int32_t b) {
  const int64_t sum = (int64_t)a + (int64_t)b;
  return (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* exp(a) for a in [-1/4, 0), Q0 in and out: Taylor expansion around -1/8. */
EDGEQ_HELPER int32_t edgeq_fx_exp_on_interval_neg_quarter_0(int32_t a) {
  const int32_t constant_term = 1895147668; /* exp(-1/8) */
  const int32_t one_third = 715827883;
  const int32_t x = a + (1 << 28); /* a + 1/8 */
  const int32_t x2 = edgeq_srdhm(x, x);
  const int32_t x3 = edgeq_srdhm(x2, x);
  const int32_t x4 = edgeq_srdhm(x2, x2);
  const int32_t x4_over_4 = edgeq_rdbpot(x4, 2);
  const int32_t poly = edgeq_rdbpot(edgeq_srdhm(x4_over_4 + x3, one_third) + x2, 1);
  return constant_term + edgeq_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q(integer_bits) (integer_bits 1..5); result in Q0. */
EDGEQ_HELPER int32_t edgeq_fx_exp_on_negative_values(int32_t a, int integer_bits) {
  /* exp(-2^k) for k = -2..4, in Q0 */
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int frac_bits = 31 - integer_bits;
  const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
  const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
  const int32_t remainder = a_mod_quarter_minus_quarter - a;
  int32_t result = edgeq_fx_exp_on_interval_neg_quarter_0(edgeq_fx_sat_shl(a_mod_quarter_minus_quarter, integer_bits));
  int k;
  for (k = 0; k < 7; ++k) {
    const int exponent = k - 2;
    if (integer_bits > exponent && (remainder & ((int32_t)1 << (frac_bits + exponent))))
      result = edgeq_srdhm(result, barrel[k]);
  }
  return a == 0 ? INT32_MAX : result;
}

/* Newton-Raphson for 1 / (1 + a) (halved), a in Q0 in [0, 1); x is Q2. Out of line: smaller, and no
 * slower once per softmax row. */
EDGEQ_HELPER EDGEQ_NOINLINE int32_t edgeq_fx_newton_half_reciprocal_q2(int32_t half_denominator) {
  int32_t x = 1515870810 + edgeq_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 * d */
  int i;
  for (i = 0; i < 3; ++i) {
    const int32_t one_minus_dx = ((int32_t)1 << 29) - edgeq_srdhm(half_denominator, x);
    x = x + edgeq_fx_sat_shl(edgeq_srdhm(x, one_minus_dx), 2);
  }
  return x;
}

/* 1 / (1 + a) for a in [0, 1), Q0 in and out (gemmlowp one_over_one_plus_x_for_x_in_0_1). */
EDGEQ_HELPER int32_t edgeq_fx_one_over_one_plus_x(int32_t a) {
  return edgeq_fx_sat_shl(edgeq_fx_newton_half_reciprocal_q2(edgeq_fx_rounding_half_sum(a, INT32_MAX)), 1);
}

/* (1 - a) / (1 + a) for a in [0, 1), Q0 in and out (gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1). */
EDGEQ_HELPER int32_t edgeq_fx_one_minus_x_over_one_plus_x(int32_t a) {
  return edgeq_fx_sat_shl(edgeq_fx_newton_half_reciprocal_q2(edgeq_fx_rounding_half_sum(a, INT32_MAX)) -
                              ((int32_t)1 << 29),
                          2);
}

#endif /* EDGEQ_FIXEDPOINT_H */
