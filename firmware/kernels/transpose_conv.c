#include "transpose_conv.h"

void edgeq_transpose_conv_s8(const edgeq_transpose_conv_s8_params *p, const int8_t *in, int8_t *out,
                             void *scratch) {
  int32_t *acc = (int32_t *)scratch;
  const int32_t in_c = p->in_c;
  const int32_t out_c = p->out_c;
  const size_t out_row = (size_t)p->out_w * (size_t)out_c;          /* accumulators per output row */
  const size_t out_image = (size_t)p->out_h * out_row;              /* accumulators per batch */
  const size_t w_oc_stride = (size_t)p->k_h * (size_t)p->k_w * (size_t)in_c; /* weights per out channel */
  int32_t b, iy, ix, fy, fx, oc, ic;
  size_t i;

  /* Start every accumulator at its bias: integer addition is associative (mod 2^32), so this is
   * the same as the reference's zero start plus the bias added before requantization. */
  for (i = 0; i < out_image * (size_t)p->batches; i += (size_t)out_c)
    for (oc = 0; oc < out_c; ++oc) acc[i + (size_t)oc] = p->bias ? p->bias[oc] : 0;

  for (b = 0; b < p->batches; ++b) {
    int32_t *acc_b = acc + (size_t)b * out_image;
    const int8_t *in_b = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)in_c;
    for (iy = 0; iy < p->in_h; ++iy) {
      const int32_t oy0 = iy * p->stride_h - p->pad_h;
      /* filter rows that land inside the output */
      const int32_t fy_lo = oy0 < 0 ? -oy0 : 0;
      const int32_t fy_hi = edgeq_min_i32(p->k_h, p->out_h - oy0);
      for (ix = 0; ix < p->in_w; ++ix) {
        const int32_t ox0 = ix * p->stride_w - p->pad_w;
        const int32_t fx_lo = ox0 < 0 ? -ox0 : 0;
        const int32_t fx_hi = edgeq_min_i32(p->k_w, p->out_w - ox0);
        const int8_t *x = in_b + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)in_c;
        for (fy = fy_lo; fy < fy_hi; ++fy) {
          int32_t *acc_row = acc_b + (size_t)(oy0 + fy) * out_row;
          for (fx = fx_lo; fx < fx_hi; ++fx) {
            int32_t *a = acc_row + (size_t)(ox0 + fx) * (size_t)out_c;
            const int8_t *w = p->weights + ((size_t)fy * (size_t)p->k_w + (size_t)fx) * (size_t)in_c;
            for (oc = 0; oc < out_c; ++oc, w += w_oc_stride) {
              int32_t sum = 0;
              for (ic = 0; ic < in_c; ++ic) sum += ((int32_t)x[ic] + p->input_offset) * (int32_t)w[ic];
              a[oc] += sum;
            }
          }
        }
      }
    }
  }

  for (i = 0; i < out_image * (size_t)p->batches; i += (size_t)out_c) {
    for (oc = 0; oc < out_c; ++oc) {
      out[i + (size_t)oc] = (int8_t)edgeq_requant_clamp(&p->rq, acc[i + (size_t)oc], p->mult[oc], p->shift[oc]);
    }
  }
}
