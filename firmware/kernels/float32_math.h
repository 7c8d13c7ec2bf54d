/* edgeq: float32 element-wise math: EXP, LOG, SQRT, RSQRT, ABS, NEG, GELU (erf and tanh forms), ELU, as
 * TFLite's float reference kernels compute them, with edgeq's own exp / log / sqrt / erf (the firmware links
 * no libm). ABS and NEG are exact; the others agree with LiteRT (which calls libm) within the tolerance of
 * edgeq/quality/compare.py, not bit for bit. */
#ifndef EDGEQ_FLOAT32_MATH_H
#define EDGEQ_FLOAT32_MATH_H
#include "edgeq_common.h"

typedef struct {
  int32_t size;
} edgeq_math_f32_params;

void edgeq_exp_f32(const edgeq_math_f32_params *p, const float *in, float *out);
/* log(x); log(0) = -inf, log(x < 0) = NaN */
void edgeq_log_f32(const edgeq_math_f32_params *p, const float *in, float *out);
void edgeq_sqrt_f32(const edgeq_math_f32_params *p, const float *in, float *out);
/* 1 / sqrt(x) */
void edgeq_rsqrt_f32(const edgeq_math_f32_params *p, const float *in, float *out);
void edgeq_abs_f32(const edgeq_math_f32_params *p, const float *in, float *out);
void edgeq_neg_f32(const edgeq_math_f32_params *p, const float *in, float *out);
/* 0.5 x erfc(-x / sqrt 2) */
void edgeq_gelu_f32(const edgeq_math_f32_params *p, const float *in, float *out);
/* 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) */
void edgeq_gelu_tanh_f32(const edgeq_math_f32_params *p, const float *in, float *out);
/* x < 0 ? expm1(x) : x */
void edgeq_elu_f32(const edgeq_math_f32_params *p, const float *in, float *out);

#endif
