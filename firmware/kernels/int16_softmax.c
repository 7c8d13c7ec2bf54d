#include "int16_softmax.h"
#include "int16_sigmoid.h"

void edgeq_softmax_s16(const edgeq_softmax_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t depth = p->depth;
  int32_t i, c;
  for (i = 0; i < p->outer; ++i) {
    const int16_t *x = in + (size_t)i * (size_t)depth;
    int16_t *y = out + (size_t)i * (size_t)depth;
    int32_t mx = -32768, sum = 0, hp1, shifted, right;
    int16_t recip;
    int64_t round;
    for (c = 0; c < depth; ++c) mx = x[c] > mx ? x[c] : mx;
    for (c = 0; c < depth; ++c) {
      const int32_t scaled = edgeq_requant((int32_t)x[c] - mx, p->input_multiplier, p->input_shift, p->rounding);
      const int16_t e = edgeq_lut_lookup_s16((int16_t)edgeq_clamp_i32(scaled + 32767, -32768, 32767), p->exp_lut);
      y[c] = e; /* cached in the output, as the reference does */
      sum += e;
    }
    hp1 = edgeq_clz32((uint32_t)sum);
    shifted = (int32_t)((((int64_t)sum << (hp1 - 1)) + (1 << 13)) >> 14);
    recip = edgeq_lut_lookup_s16((int16_t)edgeq_clamp_i32(shifted - ((1 << 15) + (1 << 16)), -32768, 32767), p->recip_lut);
    right = 31 - hp1;
    round = (int64_t)1 << (right - 1);
    for (c = 0; c < depth; ++c) {
      const int32_t r = (int32_t)(((int64_t)y[c] * (int64_t)recip + round) >> right);
      y[c] = (int16_t)edgeq_clamp_i32(r, 0, 32767);
    }
  }
}

void edgeq_logistic_s16(const edgeq_sigmoid_s16_params *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_logistic_s16_one(in[i], p->input_multiplier, p->input_left_shift, p->table);
}

void edgeq_tanh_s16(const edgeq_sigmoid_s16_params *p, const int16_t *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_tanh_s16_one(in[i], p->input_multiplier, p->input_left_shift, p->table);
}
