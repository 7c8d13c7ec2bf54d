#include "float32_conv.h"

/* The output value of one pixel and output channel oc: the valid taps (rows ky0..ky1, columns kx0..kx1 of
 * the window at input row iy0, column ix0) of filter w (float, [k_h][k_w][filter_in_c]) in the reference's
 * (ky, kx, ic) order, + bias, clamped. With one group and no column dilation (row_run) the valid taps of a
 * filter row are contiguous in both the input row and the filter: one run of (kx1 - kx0) * fin products. */
EDGEQ_INLINE float conv_window(const edgeq_conv_f32_params *p, const float *in, int32_t b, int32_t iy0, int32_t ix0,
                               int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1, int32_t oc, const float *w) {
  const int32_t fin = p->filter_in_c;
  const int32_t group = oc / (p->out_c / (p->in_c / fin));
  const int32_t row_run = p->in_c == fin && p->dilation_w == 1;
  float total = 0.0f;
  int32_t ky, kx;
  for (ky = ky0; ky < ky1; ++ky) {
    const float *xrow = in + ((b * p->in_h + iy0 + p->dilation_h * ky) * p->in_w) * p->in_c + group * fin;
    const float *wrow = w + ky * p->k_w * fin;
    if (row_run) {
      total = edgeq_dot_f32(total, xrow + (ix0 + kx0) * p->in_c, wrow + kx0 * fin, (kx1 - kx0) * fin);
    } else {
      for (kx = kx0; kx < kx1; ++kx) {
        total = edgeq_dot_f32(total, xrow + (ix0 + p->dilation_w * kx) * p->in_c, wrow + kx * fin, fin);
      }
    }
  }
  return edgeq_clampf(total + (p->bias ? p->bias[oc] : 0.0f), p->act_min, p->act_max);
}

void edgeq_conv_f32(const edgeq_conv_f32_params *p, const float *in, float *out) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c; /* weights per filter */
  int32_t b, oy, ox, oc;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, p->k_h, p->in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        float *y = out + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
        int32_t kx0, kx1;
        edgeq_tap_range(ix0, p->dilation_w, p->k_w, p->in_w, &kx0, &kx1);
        for (oc = 0; oc < p->out_c; ++oc) {
          y[oc] = conv_window(p, in, b, iy0, ix0, ky0, ky1, kx0, kx1, oc, p->weights + oc * n);
        }
      }
    }
  }
}

void edgeq_conv_f32_s8w(const edgeq_conv_f32_params *p, const float *in, float *out, void *scratch) {
  const int32_t n = p->k_h * p->k_w * p->filter_in_c; /* weights per filter */
  float *w = (float *)scratch;                         /* one filter, dequantized */
  int32_t b, oy, ox, oc, i;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      float *yrow = out + (b * p->out_h + oy) * p->out_w * p->out_c;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, p->k_h, p->in_h, &ky0, &ky1);
      for (oc = 0; oc < p->out_c; ++oc) {
        const int8_t *q = p->weights_s8 + oc * n;
        const float scale = p->scales[oc];
        for (i = 0; i < n; ++i) w[i] = (float)q[i] * scale; /* LiteRT's DEQUANTIZE value, exactly */
        for (ox = 0; ox < p->out_w; ++ox) {
          const int32_t ix0 = ox * p->stride_w - p->pad_w;
          int32_t kx0, kx1;
          edgeq_tap_range(ix0, p->dilation_w, p->k_w, p->in_w, &kx0, &kx1);
          yrow[ox * p->out_c + oc] = conv_window(p, in, b, iy0, ix0, ky0, ky1, kx0, kx1, oc, w);
        }
      }
    }
  }
}

void edgeq_depthwise_conv_f32(const edgeq_depthwise_conv_f32_params *p, const float *in, float *out) {
  int32_t b, oy, ox, ic, m, ky, kx;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, p->k_h, p->in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        float *y = out + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
        int32_t kx0, kx1;
        edgeq_tap_range(ix0, p->dilation_w, p->k_w, p->in_w, &kx0, &kx1);
        for (ic = 0; ic < p->in_c; ++ic) {
          for (m = 0; m < p->depth_mult; ++m) {
            const int32_t oc = m + ic * p->depth_mult;
            float total = 0.0f;
            for (ky = ky0; ky < ky1; ++ky) {
              const float *x = in + ((b * p->in_h + iy0 + p->dilation_h * ky) * p->in_w + ix0) * p->in_c + ic;
              const int32_t w = ky * p->k_w * p->out_c + oc;
              if (p->weights_s8) {
                const int8_t *ws = p->weights_s8 + w;
                const float scale = p->scales[oc];
                for (kx = kx0; kx < kx1; ++kx) {
                  total += x[p->dilation_w * kx * p->in_c] * ((float)ws[kx * p->out_c] * scale);
                }
              } else {
                const float *wf = p->weights + w;
                for (kx = kx0; kx < kx1; ++kx) total += x[p->dilation_w * kx * p->in_c] * wf[kx * p->out_c];
              }
            }
            y[oc] = edgeq_clampf(total + (p->bias ? p->bias[oc] : 0.0f), p->act_min, p->act_max);
          }
        }
      }
    }
  }
}
