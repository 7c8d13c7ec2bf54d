#include "prelu.h"

void edgeq_prelu_s8(const edgeq_prelu_s8_params *p, const int8_t *in, const int8_t *alpha, int8_t *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t sx = p->stride1[last];
  const int32_t sa = p->stride2[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    const int8_t *x = in + it.off1;
    const int8_t *a = alpha + it.off2;
    int32_t i;
    for (i = 0; i < n; ++i) {
      const int32_t v = (int32_t)x[i * sx] + p->input_offset;
      const int32_t acc = v >= 0 ? edgeq_requant(v, p->mult_pos, p->shift_pos, p->rq.rounding)
                                 : edgeq_requant(v * ((int32_t)a[i * sa] + p->alpha_offset), p->mult_neg,
                                                 p->shift_neg, p->rq.rounding);
      out[i] = (int8_t)edgeq_clamp_i32(acc + p->rq.output_offset, p->rq.act_min, p->rq.act_max);
    }
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
