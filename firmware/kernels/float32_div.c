#include "float32_div.h"

void edgeq_div_f32(const edgeq_div_f32_params *p, const float *in1, const float *in2, float *out) {
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
    for (i = 0; i < n; ++i) out[i] = edgeq_clampf(a[i * s1] / b[i * s2], p->act_min, p->act_max);
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}

void edgeq_floor_div_f32(const edgeq_floor_div_f32_params *p, const float *in1, const float *in2, float *out) {
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
    for (i = 0; i < n; ++i) out[i] = (float)edgeq_floor_d((double)a[i * s1] / (double)b[i * s2]);
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
