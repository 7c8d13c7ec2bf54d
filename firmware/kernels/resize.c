#include "resize.h"

static void edgeq_copy_s8(int8_t *dst, const int8_t *src, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) dst[i] = src[i];
}

void edgeq_resize_nearest_s8(const edgeq_resize_nearest_s8_params *p, const int8_t *in, int8_t *out) {
  const size_t depth = (size_t)p->depth;
  const size_t out_row = (size_t)p->out_w * depth;
  int32_t b, y, x;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      if (y > 0 && p->row_offset[y] == p->row_offset[y - 1]) {
        /* same source row as the previous output row: copy that row whole */
        edgeq_copy_s8(out, out - out_row, out_row);
      } else {
        const int8_t *src_row = in_b + p->row_offset[y];
        for (x = 0; x < p->out_w; ++x)
          edgeq_copy_s8(out + (size_t)x * depth, src_row + p->col_offset[x], depth);
      }
      out += out_row;
    }
  }
}

void edgeq_resize_bilinear_s8(const edgeq_resize_bilinear_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t depth = p->depth;
  const int32_t single = p->rounding == EDGEQ_ROUND_SINGLE;
  int32_t b, y, x, c;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      const int8_t *r0 = in_b + p->y_lo[y];
      const int8_t *r1 = in_b + p->y_hi[y];
      const int32_t fy = p->y_frac[y];
      for (x = 0; x < p->out_w; ++x) {
        const int32_t fx = p->x_frac[x];
        const int32_t w00 = ((1 << 10) - fy) * ((1 << 10) - fx);
        const int32_t w10 = fy * ((1 << 10) - fx);
        const int32_t w01 = ((1 << 10) - fy) * fx;
        const int32_t w11 = fy * fx;
        const int8_t *a00 = r0 + p->x_lo[x], *a10 = r1 + p->x_lo[x];
        const int8_t *a01 = r0 + p->x_hi[x], *a11 = r1 + p->x_hi[x];
        for (c = 0; c < depth; ++c) {
          const int32_t acc = a00[c] * w00 + a10[c] * w10 + a01[c] * w01 + a11[c] * w11;
          int32_t v;
          if (single) {
            v = (acc + (1 << 19)) >> 20; /* arithmetic shift, as the reference's int64 >> */
          } else {
            v = (acc + (acc > 0 ? (1 << 19) : -(1 << 19))) / (1 << 20);
          }
          *out++ = (int8_t)v;
        }
      }
    }
  }
}
