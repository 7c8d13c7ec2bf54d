#include "float32_resize.h"

void edgeq_resize_bilinear_f32(const edgeq_resize_bilinear_f32_params *p, const float *in, float *out) {
  int32_t b, y, x, c;
  for (b = 0; b < p->batches; ++b) {
    const float *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      const float *r0 = in_b + p->y_lo[y];
      const float *r1 = in_b + p->y_hi[y];
      const float fy = p->y_frac[y];
      for (x = 0; x < p->out_w; ++x) {
        const float fx = p->x_frac[x];
        const float *a00 = r0 + p->x_lo[x], *a10 = r1 + p->x_lo[x];
        const float *a01 = r0 + p->x_hi[x], *a11 = r1 + p->x_hi[x];
        for (c = 0; c < p->depth; ++c) {
          *out++ = a00[c] * (1.0f - fy) * (1.0f - fx) + a10[c] * fy * (1.0f - fx) +
                   a01[c] * (1.0f - fy) * fx + a11[c] * fy * fx;
        }
      }
    }
  }
}
