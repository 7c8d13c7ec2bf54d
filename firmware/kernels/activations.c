#include "activations.h"
#include "edgeq_fixedpoint.h"

/* Every kernel here is a function of one int8 value. For tensors larger than 256 elements the function is
 * evaluated once per possible input into a 256-byte table on the stack and the tensor is mapped through
 * it: the same results, far fewer multiplies. */
typedef int8_t (*act_fn)(const void *params, int8_t x);

static void map_elementwise(act_fn f, const void *params, int32_t size, const int8_t *in, int8_t *out) {
  int32_t i;
  if (size > 256) {
    int8_t table[256];
    for (i = 0; i < 256; ++i) table[i] = f(params, (int8_t)(uint8_t)i);
    for (i = 0; i < size; ++i) out[i] = table[(uint8_t)in[i]];
  } else {
    for (i = 0; i < size; ++i) out[i] = f(params, in[i]);
  }
}

void edgeq_lut_s8(const edgeq_lut_s8_params *p, const int8_t *in, int8_t *out) {
  const int8_t *lut = p->lut;
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = lut[(uint8_t)in[i]];
}

static int8_t relu_one(const void *params, int8_t x) {
  const edgeq_relu_s8_params *p = (const edgeq_relu_s8_params *)params;
  return (int8_t)edgeq_requant_clamp(&p->rq, (int32_t)x - p->input_zero_point, p->mult, p->shift);
}

void edgeq_relu_s8(const edgeq_relu_s8_params *p, const int8_t *in, int8_t *out) {
  map_elementwise(relu_one, p, p->size, in, out);
}

void edgeq_clamp_s8(const edgeq_clamp_s8_params *p, const int8_t *in, int8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = (int8_t)edgeq_clamp_i32(in[i], p->lo, p->hi);
}

static int8_t leaky_relu_one(const void *params, int8_t in) {
  const edgeq_leaky_relu_s8_params *p = (const edgeq_leaky_relu_s8_params *)params;
  const int32_t x = (int32_t)in - p->input_zero_point;
  const int32_t y = x >= 0 ? edgeq_requant(x, p->mult_identity, p->shift_identity, p->rounding)
                           : edgeq_requant(x, p->mult_alpha, p->shift_alpha, p->rounding);
  return edgeq_sat_s8(p->output_zero_point + y);
}

void edgeq_leaky_relu_s8(const edgeq_leaky_relu_s8_params *p, const int8_t *in, int8_t *out) {
  map_elementwise(leaky_relu_one, p, p->size, in, out);
}

/* ---- HARD_SWISH: int16 fixed point ---------------------------------------------------------------- */

/* gemmlowp SaturatingRoundingDoublingHighMul on int16 (Q15 product, rounded to nearest). */
static int16_t srdhm_s16(int16_t a, int16_t b) {
  const int32_t ab = (int32_t)a * (int32_t)b;
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  return (int16_t)((ab + (ab >= 0 ? (1 << 14) : (1 - (1 << 14)))) / (1 << 15));
}

/* Like srdhm_s16 but truncating toward zero (ARM SQDMULH). */
static int16_t sdhm_s16(int16_t a, int16_t b) {
  if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
  return (int16_t)(((int32_t)a * (int32_t)b) / (1 << 15));
}

/* v * 2^amount saturated to int16 (amount < 31). */
static int16_t saturating_left_shift_s16(int16_t v, int amount) {
  const int64_t r = (int64_t)v * ((int64_t)1 << amount);
  return (int16_t)(r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : r));
}

/* gemmlowp::RoundingDivideByPOT on int16 (0 <= exponent <= 31). Up to 15 it is the int32 one; from 16 on
 * its mask (1 << exponent) - 1 truncates to int16 -1, so the remainder is x itself and the threshold -1 + (x < 0):
 * the result is 1 for x >= 0 and -1 for x < 0 (what LiteRT and TFLM compute for far-apart scales). */
static int16_t rdbpot_s16(int16_t x, int exponent) {
  if (exponent <= 15) return (int16_t)edgeq_rdbpot(x, exponent);
  return (int16_t)(x >= 0 ? 1 : -1);
}

static int8_t hard_swish_one(const void *params, int8_t in) {
  const edgeq_hard_swish_s8_params *p = (const edgeq_hard_swish_s8_params *)params;
  const int32_t reluish_exp = p->reluish_multiplier_exponent;
  const int16_t x = (int16_t)((int32_t)in - p->input_zero_point);
  /* the input with 7 more fractional bits ("hires" input scale = input_scale / 128) */
  const int16_t x_hires = (int16_t)(x * (1 << 7));
  /* the input on the output scale, before the final power-of-two shift */
  const int16_t x_preshift_out = srdhm_s16(x_hires, (int16_t)p->output_multiplier_fixedpoint_int16);
  /* "relu-ish" factor: x rescaled so that 3.0 maps to 32768 (saturating), i.e. [-3, 3] -> [-1, 1] */
  int16_t reluish = x_hires;
  int16_t y;
  if (reluish_exp > 0) reluish = saturating_left_shift_s16(reluish, reluish_exp - 1);
  reluish = srdhm_s16(reluish, (int16_t)p->reluish_multiplier_fixedpoint_int16);
  if (reluish_exp > 0) reluish = saturating_left_shift_s16(reluish, 1);
  if (reluish_exp < 0) reluish = rdbpot_s16(reluish, -reluish_exp);
  /* [-1, 1] -> [0, 1] */
  reluish = (int16_t)(((int32_t)reluish + (1 << 15)) >> 1);
  y = rdbpot_s16(sdhm_s16(reluish, x_preshift_out), -p->output_multiplier_exponent);
  y = (int16_t)(y + p->output_zero_point); /* int16 arithmetic, as the reference */
  return edgeq_sat_s8(y);
}

void edgeq_hard_swish_s8(const edgeq_hard_swish_s8_params *p, const int8_t *in, int8_t *out) {
  map_elementwise(hard_swish_one, p, p->size, in, out);
}

/* ---- LOGISTIC / TANH: gemmlowp fixed point (TFLM integer reference) -------------------------------- */

enum { kSigmoidInputIntegerBits = 4 };

/* gemmlowp logistic: Q4 in, Q0 out. */
static int32_t logistic_q4(int32_t a) {
  int32_t pos;
  if (a == 0) return (int32_t)1 << 30; /* 1/2 */
  pos = edgeq_fx_one_over_one_plus_x(edgeq_fx_exp_on_negative_values(a > 0 ? -a : a, kSigmoidInputIntegerBits));
  return a > 0 ? pos : INT32_MAX - pos;
}

/* gemmlowp tanh: Q4 in, Q0 out. -|a| in Q4 read as Q5 is -2|a|, and
 * tanh(|a|) = (1 - exp(-2|a|)) / (1 + exp(-2|a|)). */
static int32_t tanh_q4(int32_t a) {
  int32_t t;
  if (a == 0) return 0;
  t = edgeq_fx_one_minus_x_over_one_plus_x(
      edgeq_fx_exp_on_negative_values(a < 0 ? a : -a, kSigmoidInputIntegerBits + 1));
  return a < 0 ? -t : t;
}

/* One value: saturation outside the input radius, Q4.27 rescale with double rounding, then Q0 -> int8
 * (logistic: 8 fractional output bits and zero point -128; tanh: 7 fractional bits, zero point 0). */
static int8_t sigmoid_fixed_one(const edgeq_sigmoid_fixed_s8_params *p, int8_t in, int is_tanh) {
  const int32_t v = (int32_t)in - p->input_zero_point;
  int32_t a;
  if (v <= -p->input_range_radius) return -128;
  if (v >= p->input_range_radius) return 127;
  a = edgeq_mul_qm_double(v, p->input_multiplier, p->input_left_shift);
  return is_tanh ? edgeq_sat_s8(edgeq_rdbpot(tanh_q4(a), 31 - 7))
                 : edgeq_sat_s8(edgeq_rdbpot(logistic_q4(a), 31 - 8) - 128);
}

static int8_t logistic_fixed_one(const void *params, int8_t in) {
  return sigmoid_fixed_one((const edgeq_sigmoid_fixed_s8_params *)params, in, 0);
}

static int8_t tanh_fixed_one(const void *params, int8_t in) {
  return sigmoid_fixed_one((const edgeq_sigmoid_fixed_s8_params *)params, in, 1);
}

void edgeq_logistic_fixed_s8(const edgeq_sigmoid_fixed_s8_params *p, const int8_t *in, int8_t *out) {
  map_elementwise(logistic_fixed_one, p, p->size, in, out);
}

void edgeq_tanh_fixed_s8(const edgeq_sigmoid_fixed_s8_params *p, const int8_t *in, int8_t *out) {
  map_elementwise(tanh_fixed_one, p, p->size, in, out);
}
