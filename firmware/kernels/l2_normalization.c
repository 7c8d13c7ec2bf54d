#include "l2_normalization.h"

#include "edgeq_fixedpoint.h"

/* GetInvSqrtQuantizedMultiplierExp with reverse_shift -1: 1 / sqrt(v) = m * 2^shift, m in Q31. */
static void edgeq_inv_sqrt_multiplier_exp(int32_t v, int32_t *m, int32_t *shift) {
  const int32_t half_three = (1 << 28) + (1 << 27); /* 1.5 in Q3 */
  int32_t s = 11, pairs, half_in, x, i;
  if (v <= 1) {
    *m = INT32_MAX;
    *shift = 0;
    return;
  }
  while (v >= (1 << 29)) {
    v /= 4;
    ++s;
  }
  pairs = (edgeq_clz32((uint32_t)v) - 1) / 2 - 1;
  s -= pairs;
  v <<= 2 * pairs;
  half_in = edgeq_rdbpot(v >> 1, 1); /* Q3 */
  x = 1 << 28;                       /* one in Q3 */
  for (i = 0; i < 5; ++i) {
    const int32_t x3 = edgeq_fx_sat_shl(edgeq_srdhm(edgeq_srdhm(x, x), x), 6);
    const uint32_t d = (uint32_t)edgeq_srdhm(half_three, x) - (uint32_t)edgeq_srdhm(half_in, x3); /* wraps */
    x = edgeq_fx_sat_shl((int32_t)d, 3);
  }
  x = edgeq_srdhm(x, 1518500250); /* * sqrt(2) / 2 */
  if (s < 0) {
    x = (int32_t)((uint32_t)x << -s);
    s = 0;
  }
  *m = x;
  *shift = -s;
}

void edgeq_l2_normalization_s8(const edgeq_l2_normalization_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->depth;
  int32_t o, c;
  for (o = 0; o < p->outer; ++o) {
    int32_t acc = 0, m, shift;
    for (c = 0; c < depth; ++c) {
      const int32_t v = in[c] + p->input_offset;
      acc += v * v;
    }
    edgeq_inv_sqrt_multiplier_exp(acc, &m, &shift);
    for (c = 0; c < depth; ++c) {
      out[c] = (int8_t)edgeq_requant_clamp(&p->rq, in[c] + p->input_offset, m, shift + 7);
    }
    in += depth;
    out += depth;
  }
}
