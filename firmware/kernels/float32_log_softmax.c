#include "float32_log_softmax.h"

void edgeq_log_softmax_f32(const edgeq_log_softmax_f32_params *p, const float *in, float *out) {
  int32_t o, d;
  for (o = 0; o < p->outer; ++o) {
    const float *x = in + (size_t)o * (size_t)p->depth;
    float *y = out + (size_t)o * (size_t)p->depth;
    float m = -3.40282347e+38f, sum = 0.0f, log_sum;
    for (d = 0; d < p->depth; ++d) m = m < x[d] ? x[d] : m; /* std::max(m, x) */
    for (d = 0; d < p->depth; ++d) sum += edgeq_expf(x[d] - m);
    log_sum = edgeq_logf(sum);
    for (d = 0; d < p->depth; ++d) y[d] = x[d] - m - log_sum;
  }
}
