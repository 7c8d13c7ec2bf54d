#include "float32_squared_difference.h"

void edgeq_squared_difference_f32(const edgeq_squared_difference_f32_params *p, const float *in1, const float *in2,
                                  float *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t s1 = p->stride1[last];
  const int32_t s2 = p->stride2[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    const float *a = in1 + it.off1;
    const float *b = in2 + it.off2;
    int32_t i;
    for (i = 0; i < n; ++i) {
      const float d = a[i * s1] - b[i * s2];
      out[i] = d * d;
    }
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
