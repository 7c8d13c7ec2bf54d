#include "float32_conv.h"

/* total + the n products of x and the filter weights from index w (float, or int8 times its channel's scale) */
static float conv_run(const edgeq_conv_f32_params *p, float total, const float *x, int32_t w, int32_t oc,
                      int32_t n) {
  if (p->weights_s8) return edgeq_dot_f32_s8w(total, x, p->weights_s8 + w, p->scales[oc], n);
  return edgeq_dot_f32(total, x, p->weights + w, n);
}

void edgeq_conv_f32(const edgeq_conv_f32_params *p, const float *in, float *out) {
  const int32_t groups = p->in_c / p->filter_in_c;
  const int32_t oc_per_group = p->out_c / groups;
  const int32_t fin = p->filter_in_c;
  /* with one group and no column dilation, the valid taps of a filter row are contiguous in both the
   * input row and the filter: one run of (kx1 - kx0) * fin products, still in (kx, ic) order */
  const int32_t row_run = groups == 1 && p->dilation_w == 1;
  int32_t b, oy, ox, oc, ky, kx;
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
          const int32_t group = oc / oc_per_group;
          const int32_t w0 = oc * p->k_h * p->k_w * fin; /* this filter's first weight */
          float total = 0.0f;
          for (ky = ky0; ky < ky1; ++ky) {
            const int32_t iy = iy0 + p->dilation_h * ky;
            const float *xrow = in + ((b * p->in_h + iy) * p->in_w) * p->in_c + group * fin;
            const int32_t wrow = w0 + ky * p->k_w * fin;
            if (row_run) {
              total = conv_run(p, total, xrow + (ix0 + kx0) * p->in_c, wrow + kx0 * fin, oc, (kx1 - kx0) * fin);
            } else {
              for (kx = kx0; kx < kx1; ++kx) {
                total = conv_run(p, total, xrow + (ix0 + p->dilation_w * kx) * p->in_c, wrow + kx * fin, oc, fin);
              }
            }
          }
          y[oc] = edgeq_clampf(total + (p->bias ? p->bias[oc] : 0.0f), p->act_min, p->act_max);
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
