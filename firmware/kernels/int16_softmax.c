#include "int16_softmax.h"

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
  const int32_t sh = p->input_left_shift;
  const int32_t round = sh > 0 ? (int32_t)1 << (sh - 1) : 0;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t v = ((int32_t)in[i] * p->input_multiplier + round) >> sh;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 9;
    uint32_t r;
    if (uh >= 255) {
      r = 0x7FFFu << 10;
    } else {
      const uint32_t ua = p->table[uh], ub = p->table[uh + 1];
      r = (ua << 9) + (a & 0x1ffu) * (ub - ua);
    }
    r = v >= 0 ? r + (1u << 9) : (1u << (16 + 9)) - r + (1u << 9) - 1u;
    out[i] = (int16_t)(r >> 10);
  }
}

void edgeq_tanh_s16(const edgeq_sigmoid_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t sh = p->input_left_shift;
  const int32_t round = sh > 0 ? (int32_t)1 << (sh - 1) : 0;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t v = ((int32_t)in[i] * p->input_multiplier + round) >> sh;
    const uint32_t a = (uint32_t)(v < 0 ? -v : v);
    const uint32_t uh = a >> 8;
    int32_t r;
    if (uh >= 255) {
      r = 0xFFFF << 8;
    } else {
      const uint32_t ua = p->table[uh], ub = p->table[uh + 1];
      r = (int32_t)((ua << 8) + (a & 0xffu) * (ub - ua));
    }
    r = v >= 0 ? r - (1 << (14 + 9)) + (1 << (9 - 2)) : -r + (1 << (14 + 9)) + (1 << (9 - 2)) - 1;
    out[i] = (int16_t)(r >> (9 - 1));
  }
}
