#include "float32_prelu.h"

void edgeq_prelu_f32(const edgeq_prelu_f32_params *p, const float *in, const float *alpha, float *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t sx = p->stride1[last];
  const int32_t sa = p->stride2[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    const float *x = in + it.off1;
    const float *a = alpha + it.off2;
    int32_t i;
    for (i = 0; i < n; ++i) {
      const float v = x[i * sx];
      out[i] = v >= 0.0f ? v : v * a[i * sa];
    }
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
