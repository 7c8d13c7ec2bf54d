#ifndef EDGEQ_ACTIVATIONS_H
#define EDGEQ_ACTIVATIONS_H
#include "edgeq_common.h"

/* Elementwise int8 activations. Every kernel reads `size` values and writes `size` values. */

/* out[i] = lut[(uint8_t)in[i]]: a 256-entry table computed at generation time (LiteRT's LOGISTIC and
 * TANH build such a table in float at Prepare time). Entry k holds the output for input (int8_t)k. */
typedef struct {
  int32_t size;
  const int8_t *lut; /* [256] */
} edgeq_lut_s8_params;

void edgeq_lut_s8(const edgeq_lut_s8_params *p, const int8_t *in, int8_t *out);

/* RELU / RELU6 / RELU_N1_TO_1 with requantization:
 * out = clamp(requant(in - input_zero_point, mult, shift) + rq.output_offset, rq.act_min, rq.act_max) */
typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t mult;
  int32_t shift;
  edgeq_requant_t rq;
} edgeq_relu_s8_params;

void edgeq_relu_s8(const edgeq_relu_s8_params *p, const int8_t *in, int8_t *out);

/* out = clamp(in, lo, hi) in the input's quantization (TFLM's RELU6 does not requantize). */
typedef struct {
  int32_t size;
  int32_t lo;
  int32_t hi;
} edgeq_clamp_s8_params;

void edgeq_clamp_s8(const edgeq_clamp_s8_params *p, const int8_t *in, int8_t *out);

/* LEAKY_RELU: x = in - input_zero_point;
 * out = sat8(output_zero_point + requant(x, x >= 0 ? identity : alpha multiplier)) */
typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t mult_identity;
  int32_t shift_identity;
  int32_t mult_alpha;
  int32_t shift_alpha;
  int32_t rounding;
} edgeq_leaky_relu_s8_params;

void edgeq_leaky_relu_s8(const edgeq_leaky_relu_s8_params *p, const int8_t *in, int8_t *out);

/* HARD_SWISH, int16 fixed point as TFLite's reference_ops::HardSwish (LiteRT and TFLM agree).
 * The int16 multipliers are Q15; exponents are powers of two (output exponent <= 0). */
typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t output_zero_point;
  int32_t output_multiplier_fixedpoint_int16;
  int32_t output_multiplier_exponent;
  int32_t reluish_multiplier_fixedpoint_int16;
  int32_t reluish_multiplier_exponent;
} edgeq_hard_swish_s8_params;

void edgeq_hard_swish_s8(const edgeq_hard_swish_s8_params *p, const int8_t *in, int8_t *out);

/* LOGISTIC (output zero point -128, scale 1/256) and TANH (output zero point 0, scale 1/128) in
 * fixed point, as TFLM's reference_integer_ops: the input is rescaled to Q4.27 with a double-rounding
 * multiply and fed to gemmlowp's logistic / tanh. Inputs beyond +-input_range_radius saturate. */
typedef struct {
  int32_t size;
  int32_t input_zero_point;
  int32_t input_range_radius;
  int32_t input_multiplier;
  int32_t input_left_shift;
} edgeq_sigmoid_fixed_s8_params;

void edgeq_logistic_fixed_s8(const edgeq_sigmoid_fixed_s8_params *p, const int8_t *in, int8_t *out);
void edgeq_tanh_fixed_s8(const edgeq_sigmoid_fixed_s8_params *p, const int8_t *in, int8_t *out);

#endif
