/* edgeq: float32 SOFTMAX, LOGISTIC and TANH, as TFLite's float reference kernels, with edgeq's own
 * exponential (the firmware links no libm).
 *
 * edgeq_expf: Cody-Waite range reduction x = n ln2 + r (|r| <= ln2/2), a degree-7 Taylor polynomial
 * for e^r and an exact scaling by 2^n; a few ulp from the correctly rounded value. tanh uses
 * expm1 (a degree-11 Taylor polynomial) near zero and 1 - 2 / (e^2|x| + 1) elsewhere. Because libm's
 * expf/tanhf and these differ in the last bits, these three ops agree with LiteRT within the
 * tolerance stated in edgeq/quality/compare.py, not bit for bit. */
#ifndef EDGEQ_FLOAT32_SOFTMAX_H
#define EDGEQ_FLOAT32_SOFTMAX_H
#include "edgeq_common.h"

/* out[i][c] = exp((in[i][c] - max_c in[i]) * beta) / sum over c of the same */
typedef struct {
  int32_t outer;
  int32_t depth;
  float beta;
} edgeq_softmax_f32_params;

void edgeq_softmax_f32(const edgeq_softmax_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t size;
} edgeq_unary_f32_params;

/* LOGISTIC (reference_ops::Logistic): x > 16.619047 -> 1; x < -9 -> exp(x); else 1 / (1 + exp(-x)) */
void edgeq_logistic_f32(const edgeq_unary_f32_params *p, const float *in, float *out);
/* TANH */
void edgeq_tanh_f32(const edgeq_unary_f32_params *p, const float *in, float *out);

#endif
