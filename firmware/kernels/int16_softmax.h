#ifndef EDGEQ_INT16_SOFTMAX_H
#define EDGEQ_INT16_SOFTMAX_H
#include "edgeq_common.h"

/* SOFTMAX int16 -> int16 (output scale 1/32768, zero point 0), as TFLite's reference SoftmaxInt16:
 * per row, d = x - max(x) is rescaled (MultiplyByQuantizedMultiplier, input_multiplier / input_shift)
 * so that [-65535, 0] spans [-10, 0], e = exp_lut(d + 32767); the sum of e is normalised by its leading
 * zeros and inverted through recip_lut (1 / (1 + x)); out = e * recip rounded back to Q0.15.
 * Both 513-entry LUTs (LUTPopulate<int16_t> in double) are generated in Python. */
typedef struct {
  int32_t outer, depth;
  int32_t input_multiplier, input_shift;
  int32_t rounding;
  const int16_t *exp_lut;   /* [513] */
  const int16_t *recip_lut; /* [513] */
} edgeq_softmax_s16_params;

void edgeq_softmax_s16(const edgeq_softmax_s16_params *p, const int16_t *in, int16_t *out);

/* LOGISTIC / TANH int16 (zero points 0, output scale 2^-15), as reference_integer_ops::Logistic / Tanh:
 * x' = (x * input_multiplier + round) >> input_left_shift, then linear interpolation in a 256-entry
 * sigmoid table (sigmoid(i/24) in Q0.16, passed as `table`). */
typedef struct {
  int32_t size;
  int32_t input_multiplier; /* the power-of-two case already folded in (3 << shift, shift 0) */
  int32_t input_left_shift;
  const uint16_t *table;    /* [256] */
} edgeq_sigmoid_s16_params;

void edgeq_logistic_s16(const edgeq_sigmoid_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_tanh_s16(const edgeq_sigmoid_s16_params *p, const int16_t *in, int16_t *out);

#endif
