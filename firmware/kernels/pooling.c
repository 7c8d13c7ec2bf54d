#include "pooling.h"

void edgeq_avg_pool_s8(const edgeq_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t C = p->channels;
  const size_t row = (size_t)p->in_w * (size_t)C;
  int32_t b, oy, ox, c, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)p->in_h * row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t fy0, fy1;
      edgeq_pool_window(iy0, p->filter_h, p->in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t fx0, fx1, count, half;
        const int8_t *win;
        edgeq_pool_window(ix0, p->filter_w, p->in_w, &fx0, &fx1);
        count = (fy1 - fy0) * (fx1 - fx0); /* > 0: the generator rejects empty windows */
        half = count / 2;
        win = img + (size_t)(iy0 + fy0) * row + (size_t)(ix0 + fx0) * (size_t)C;
        for (c = 0; c < C; ++c) {
          int32_t acc = 0;
          const int8_t *r = win + c;
          for (fy = fy0; fy < fy1; ++fy, r += row) {
            const int8_t *x = r;
            for (fx = fx0; fx < fx1; ++fx, x += C) acc += *x;
          }
          /* Round to nearest, half away from zero; C division truncates toward zero. */
          acc = acc > 0 ? (acc + half) / count : (acc - half) / count;
          *out++ = (int8_t)edgeq_clamp_i32(acc, p->act_min, p->act_max);
        }
      }
    }
  }
}

void edgeq_max_pool_s8(const edgeq_pool_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t C = p->channels;
  const size_t row = (size_t)p->in_w * (size_t)C;
  int32_t b, oy, ox, c, fy, fx;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)p->in_h * row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t fy0, fy1;
      edgeq_pool_window(iy0, p->filter_h, p->in_h, &fy0, &fy1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t fx0, fx1;
        const int8_t *win;
        edgeq_pool_window(ix0, p->filter_w, p->in_w, &fx0, &fx1);
        win = img + (size_t)(iy0 + fy0) * row + (size_t)(ix0 + fx0) * (size_t)C;
        for (c = 0; c < C; ++c) {
          int32_t m = -128;
          const int8_t *r = win + c;
          for (fy = fy0; fy < fy1; ++fy, r += row) {
            const int8_t *x = r;
            for (fx = fx0; fx < fx1; ++fx, x += C) m = *x > m ? *x : m;
          }
          *out++ = (int8_t)edgeq_clamp_i32(m, p->act_min, p->act_max);
        }
      }
    }
  }
}
