#include "float32_fully_connected.h"

void edgeq_fully_connected_f32(const edgeq_fully_connected_f32_params *p, const float *in, float *out) {
  int32_t b, o, d;
  for (b = 0; b < p->batches; ++b) {
    const float *x = in + b * p->in_depth;
    for (o = 0; o < p->out_depth; ++o) {
      const float *w = p->weights + o * p->in_depth;
      float total = 0.0f, v;
      /* in index order, 4 products per iteration */
      for (d = 0; d + 4 <= p->in_depth; d += 4) {
        total += x[d] * w[d];
        total += x[d + 1] * w[d + 1];
        total += x[d + 2] * w[d + 2];
        total += x[d + 3] * w[d + 3];
      }
      for (; d < p->in_depth; ++d) total += x[d] * w[d];
      v = total + (p->bias ? p->bias[o] : 0.0f);
      v = v < p->act_min ? p->act_min : v; /* ActivationFunctionWithMinMax */
      out[b * p->out_depth + o] = p->act_max < v ? p->act_max : v;
    }
  }
}
