#include "float32_fully_connected.h"

void edgeq_fully_connected_f32(const edgeq_fully_connected_f32_params *p, const float *in, float *out) {
  int32_t b, o;
  for (b = 0; b < p->batches; ++b) {
    const float *x = in + b * p->in_depth;
    for (o = 0; o < p->out_depth; ++o) {
      const float total = p->weights_s8
          ? edgeq_dot_f32_s8w(0.0f, x, p->weights_s8 + o * p->in_depth, p->scales[o], p->in_depth)
          : edgeq_dot_f32(0.0f, x, p->weights + o * p->in_depth, p->in_depth);
      out[b * p->out_depth + o] = edgeq_clampf(total + (p->bias ? p->bias[o] : 0.0f), p->act_min, p->act_max);
    }
  }
}
