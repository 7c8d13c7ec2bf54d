#include "softmax.h"
#include "edgeq_fixedpoint.h"

enum { kScaledDiffIntegerBits = 5, kAccumulationIntegerBits = 12 };

void edgeq_softmax_s8(const edgeq_softmax_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->depth;
  int32_t row, c;
  for (row = 0; row < p->outer; ++row) {
    const int8_t *x = in + (size_t)row * (size_t)depth;
    int8_t *y = out + (size_t)row * (size_t)depth;
    int32_t max_in_row = -128, sum_of_exps = 0, headroom_plus_one, shifted_scale, exponent;
    for (c = 0; c < depth; ++c) max_in_row = edgeq_max_i32(max_in_row, x[c]);

    /* sum of exp(diff) in Q12 */
    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t scaled = edgeq_requant(diff, p->input_multiplier, p->input_left_shift, p->rounding);
        /* Q0 -> Q12: rounding right shift by 12 */
        sum_of_exps +=
            edgeq_rdbpot(edgeq_fx_exp_on_negative_values(scaled, kScaledDiffIntegerBits), kAccumulationIntegerBits);
      }
    }

    /* reciprocal of the sum: sum = 2^(num_bits_over_unit) * (1 + f), scale = 1 / (1 + f) in Q0 */
    headroom_plus_one = edgeq_clz32((uint32_t)sum_of_exps);
    shifted_scale = edgeq_fx_one_over_one_plus_x(
        (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (UINT32_C(1) << 31)));
    exponent = (kAccumulationIntegerBits - headroom_plus_one) + 31 - 8;

    for (c = 0; c < depth; ++c) {
      const int32_t diff = (int32_t)x[c] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t scaled = edgeq_requant(diff, p->input_multiplier, p->input_left_shift, p->rounding);
        const int32_t e = edgeq_fx_exp_on_negative_values(scaled, kScaledDiffIntegerBits);
        /* The references abort (TFLITE_CHECK) when exponent > 31, i.e. when the sum of exponentials
         * reaches 512 (rows of hundreds of near-equal values). A non-negative Q0.31 value divided by
         * 2^32 or more rounds to 0, which is what we return: the natural continuation. */
        const int32_t unsat = exponent > 31 ? 0 : edgeq_rdbpot(edgeq_srdhm(shifted_scale, e), exponent);
        y[c] = edgeq_sat_s8(unsat - 128);
      } else {
        y[c] = -128;
      }
    }
  }
}
