#include "float32_softmax.h"

void edgeq_softmax_f32(const edgeq_softmax_f32_params *p, const float *in, float *out) {
  int32_t i, c;
  for (i = 0; i < p->outer; ++i) {
    const float *x = in + i * p->depth;
    float *y = out + i * p->depth;
    float max = -3.40282347e+38f, sum = 0.0f;
    for (c = 0; c < p->depth; ++c) max = max < x[c] ? x[c] : max;
    for (c = 0; c < p->depth; ++c) {
      const float e = edgeq_expf((x[c] - max) * p->beta);
      y[c] = e;
      sum += e;
    }
    for (c = 0; c < p->depth; ++c) y[c] = y[c] / sum;
  }
}

void edgeq_logistic_f32(const edgeq_unary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float v = in[i];
    if (v > 16.619047164916992188f) {
      out[i] = 1.0f;
    } else if (v < -9.0f) {
      out[i] = edgeq_expf(v);
    } else {
      out[i] = 1.0f / (1.0f + edgeq_expf(-v));
    }
  }
}

void edgeq_tanh_f32(const edgeq_unary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_tanhf(in[i]);
}
