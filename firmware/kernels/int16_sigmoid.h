#ifndef EDGEQ_INT16_SIGMOID_H
#define EDGEQ_INT16_SIGMOID_H
#include "edgeq_common.h"

/* One element of TFLite's int16 reference_integer_ops::Logistic / Tanh (zero points 0, output Q0.15):
 * x' = (x * input_multiplier + round) >> input_left_shift (the power-of-two case already folded in:
 * multiplier 3 << shift, shift 0), then linear interpolation in the 256-entry sigmoid table
 * (sigmoid(i / 24) in Q0.16), tanh through tanh(x) = 2 sigmoid(2x) - 1. Shared by the int16 LOGISTIC /
 * TANH kernels and TFLM's int8 LSTM (lstm.c, rounding "tflm"). */
EDGEQ_INLINE int16_t edgeq_logistic_s16_one(int16_t x, int32_t mult, int32_t shift, const uint16_t *table) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t v = ((int32_t)x * mult + round) >> shift;
  const uint32_t a = (uint32_t)(v < 0 ? -v : v);
  const uint32_t uh = a >> 9;
  uint32_t r;
  if (uh >= 255) {
    r = 0x7FFFu << 10;
  } else {
    const uint32_t ua = table[uh], ub = table[uh + 1];
    r = (ua << 9) + (a & 0x1ffu) * (ub - ua);
  }
  r = v >= 0 ? r + (1u << 9) : (1u << (16 + 9)) - r + (1u << 9) - 1u;
  return (int16_t)(r >> 10);
}

EDGEQ_INLINE int16_t edgeq_tanh_s16_one(int16_t x, int32_t mult, int32_t shift, const uint16_t *table) {
  const int32_t round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
  const int32_t v = ((int32_t)x * mult + round) >> shift;
  const uint32_t a = (uint32_t)(v < 0 ? -v : v);
  const uint32_t uh = a >> 8;
  int32_t r;
  if (uh >= 255) {
    r = 0xFFFF << 8;
  } else {
    const uint32_t ua = table[uh], ub = table[uh + 1];
    r = (int32_t)((ua << 8) + (a & 0xffu) * (ub - ua));
  }
  r = v >= 0 ? r - (1 << (14 + 9)) + (1 << (9 - 2)) : -r + (1 << (14 + 9)) + (1 << (9 - 2)) - 1;
  return (int16_t)(r >> (9 - 1));
}

#endif
