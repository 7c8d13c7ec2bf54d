#include "log_softmax.h"

#include "edgeq_fixedpoint.h"

/* TFLite's SaturatingRoundingMultiplyByPOTParam for exponents 0..31 (a saturating left shift). */
static int32_t lsm_sat_shl(int32_t x, int32_t e) { return e == 0 ? x : edgeq_fx_sat_shl(x, e); }

static int32_t lsm_sat_add(int32_t a, int32_t b) {
  const int64_t s = (int64_t)a + b;
  return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

static int32_t lsm_sat_sub(int32_t a, int32_t b) {
  const int64_t s = (int64_t)a - b;
  return s > INT32_MAX ? INT32_MAX : (s < INT32_MIN ? INT32_MIN : (int32_t)s);
}

/* gemmlowp's wrap-around raw addition */
static int32_t lsm_add(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }

/* TFLite's log_x_for_x_greater_than_or_equal_to_1<5>(x) for x in Q12 (InputIntegerBits 12, OutputIntegerBits 5,
 * accumulation in Q6), operation by operation. */
static int32_t lsm_log_q12_to_q5(int32_t z_a) {
  enum { kIn = 12, kAccum = 6 };
  const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
  const int32_t alpha_n = 117049297, alpha_d = 127690142, alpha_i = 1057819769, alpha_f = 638450708;
  const int32_t shifted_quarter = edgeq_rdbpot(536870912, kAccum); /* Rescale<6>(1/4) */
  const int32_t z_a_hp1 = edgeq_clz32((uint32_t)z_a);
  const int32_t r_a_tmp = lsm_sat_shl(z_a, z_a_hp1 - 1);
  const int32_t r_a = lsm_sat_shl(edgeq_srdhm(r_a_tmp, sqrt_half), 1);
  const int32_t z_a_pow_2_adj = lsm_sat_add(lsm_sat_shl(kIn - z_a_hp1, 31 - kAccum), shifted_quarter);
  const int32_t z_b = edgeq_srdhm(z_a, sqrt_half);
  const int32_t z_b_headroom = edgeq_clz32((uint32_t)z_b) - 1;
  const int32_t r_b = lsm_sat_shl(z_a, z_b_headroom);
  const int32_t z_b_pow_2_adj = lsm_sat_sub(lsm_sat_shl(kIn - z_b_headroom, 31 - kAccum), shifted_quarter);
  const int32_t r = r_a < r_b ? r_a : r_b;
  const int32_t z_pow_2_adj = z_a_pow_2_adj > z_b_pow_2_adj ? z_a_pow_2_adj : z_b_pow_2_adj;
  const int32_t pp = edgeq_fx_rounding_half_sum(r, sqrt_sqrt_half);
  int32_t q = lsm_add(r, -sqrt_sqrt_half);
  int32_t common_sq, num, denom_minus_one, recip_denom, num_scaled;
  q = lsm_add(q, q);
  common_sq = edgeq_srdhm(q, q);
  num = lsm_add(edgeq_srdhm(q, r), edgeq_srdhm(edgeq_srdhm(q, common_sq), alpha_n));
  denom_minus_one = lsm_add(edgeq_srdhm(pp, lsm_add(lsm_add(alpha_i, q), edgeq_srdhm(alpha_d, common_sq))),
                            edgeq_srdhm(alpha_f, q));
  recip_denom = edgeq_fx_one_over_one_plus_x(denom_minus_one);
  num_scaled = edgeq_rdbpot(num, kAccum); /* Rescale<6> of a Q0 value */
  /* Q6 -> Q5: Rescale<5>, a saturating left shift by one */
  return edgeq_fx_sat_shl(lsm_add(edgeq_srdhm(z_pow_2_adj, log_2), edgeq_srdhm(num_scaled, recip_denom)), 1);
}

void edgeq_log_softmax_s8(const edgeq_log_softmax_s8_params *p, const int8_t *in, int8_t *out) {
  enum { kInputIntegerBits = 5, kAccumulationIntegerBits = 12, kOutputIntegerBits = 4, kOutputZeroPoint = 127 };
  int32_t o, d;
  for (o = 0; o < p->outer; ++o) {
    const int8_t *x = in + (size_t)o * (size_t)p->depth;
    int8_t *y = out + (size_t)o * (size_t)p->depth;
    int32_t max_in_row = -128, sum = 0, log_sum, adjusted_diff_min, rev;
    for (d = 0; d < p->depth; ++d) max_in_row = x[d] > max_in_row ? x[d] : max_in_row;
    for (d = 0; d < p->depth; ++d) {
      const int32_t diff = (int32_t)x[d] - max_in_row;
      if (diff >= p->diff_min) {
        const int32_t diff_q5 = edgeq_requant(diff, p->input_multiplier, p->input_left_shift, p->rounding);
        sum = lsm_add(sum, edgeq_rdbpot(edgeq_fx_exp_on_negative_values(diff_q5, kInputIntegerBits),
                                        kAccumulationIntegerBits));
      }
    }
    log_sum = lsm_log_q12_to_q5(sum);
    rev = edgeq_requant(lsm_add(log_sum, INT32_MIN), p->reverse_multiplier, p->reverse_shift, p->rounding);
    adjusted_diff_min = p->diff_min - 1 > rev ? p->diff_min - 1 : rev;
    for (d = 0; d < p->depth; ++d) {
      const int32_t diff = (int32_t)x[d] - max_in_row;
      if (diff > adjusted_diff_min) {
        const int32_t diff_q5 = edgeq_requant(diff, p->input_multiplier, p->input_left_shift, p->rounding);
        const int32_t v = edgeq_rdbpot(lsm_add(diff_q5, -log_sum), 31 - kInputIntegerBits - kOutputIntegerBits) +
                          kOutputZeroPoint;
        y[d] = (int8_t)edgeq_clamp_i32(v, -128, 127);
      } else {
        y[d] = -128;
      }
    }
  }
}
