#include "int16_conv.h"
#include "edgeq_dsp.h"

EDGEQ_INLINE int16_t conv_finish(int64_t acc, const int64_t *bias, int32_t c, int32_t m, int32_t t,
                                 int32_t lo, int32_t hi) {
  if (bias) acc += bias[c];
  return (int16_t)edgeq_clamp_i32(edgeq_requant_s64(acc, m, t), lo, hi);
}

/* acc + x[0..3] . w[0..3] for one block of 4 reordered weight bytes (see int16_conv.h). */
#if EDGEQ_DSP
#define S16_DOT4(acc, x01, x23, wp)                                   \
  do {                                                                \
    const int32_t ww_ = edgeq_ld32(wp);                                 \
    (acc) = __smlad((x01), __sxtb16(ww_), (acc));                     \
    (acc) = __smlad((x23), edgeq_sxtb16_ror8(ww_), (acc));              \
  } while (0)
#else
#define S16_DOT4(acc, x01, x23, wp)                                                               \
  do {                                                                                            \
    (acc) += (int32_t)(int16_t)(x01) * (wp)[0] + (int32_t)(int16_t)((uint32_t)(x01) >> 16) * (wp)[2] + \
             (int32_t)(int16_t)(x23) * (wp)[1] + (int32_t)(int16_t)((uint32_t)(x23) >> 16) * (wp)[3];  \
  } while (0)
#endif

/* Two output channels of one pixel on reordered filter rows w0, w1 (int16_conv.h `reordered`), sharing the input
 * words. With acc32 the whole window sums in int32; otherwise per valid tap an int32 partial sum
 * (|sum| <= 508 * 128 * 32768 < 2^31) is added to the int64 accumulators. */
EDGEQ_INLINE void conv_s16_window_r4x2(const edgeq_conv_s16_params *p, const int16_t *img, const int8_t *w0,
                                   const int8_t *w1, int32_t iy0, int32_t ix0, int64_t *acc0, int64_t *acc1) {
  const int32_t fin = p->filter_in_c;
  int32_t ky, kx, c;
  *acc0 = 0;
  *acc1 = 0;
  if (p->acc32) {
    /* |sum w * x| < 2^31 for every channel (checked by the lowering): one int32 sum per window;
     * a window row that lies inside the input is k_w * fin contiguous values (dilation 1). */
    int32_t s0 = 0, s1 = 0;
    const size_t rowlen = (size_t)p->k_w * (size_t)fin;
    for (ky = 0; ky < p->k_h; ++ky) {
      const int32_t iy = iy0 + ky * p->dilation_h;
      const int8_t *a = w0 + (size_t)ky * rowlen, *bw = w1 + (size_t)ky * rowlen;
      if (iy < 0 || iy >= p->in_h) continue;
      if (p->dilation_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
        const int16_t *x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix0) * (size_t)p->in_c;
        for (c = 0; c < (int32_t)rowlen; c += 4) {
          const int32_t x01 = edgeq_ld32(x + c), x23 = edgeq_ld32(x + c + 2);
          S16_DOT4(s0, x01, x23, a + c);
          S16_DOT4(s1, x01, x23, bw + c);
        }
        continue;
      }
      for (kx = 0; kx < p->k_w; ++kx) {
        const int32_t ix = ix0 + kx * p->dilation_w;
        const int16_t *x;
        if (ix < 0 || ix >= p->in_w) continue;
        x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
        for (c = 0; c < fin; c += 4) {
          const int32_t x01 = edgeq_ld32(x + c), x23 = edgeq_ld32(x + c + 2);
          S16_DOT4(s0, x01, x23, a + (size_t)kx * (size_t)fin + c);
          S16_DOT4(s1, x01, x23, bw + (size_t)kx * (size_t)fin + c);
        }
      }
    }
    *acc0 = s0;
    *acc1 = s1;
    return;
  }
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = iy0 + ky * p->dilation_h;
    if (iy < 0 || iy >= p->in_h) continue;
    for (kx = 0; kx < p->k_w; ++kx) {
      const int32_t ix = ix0 + kx * p->dilation_w;
      const size_t wo = ((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)fin;
      const int16_t *x;
      int32_t s0 = 0, s1 = 0;
      if (ix < 0 || ix >= p->in_w) continue;
      x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
      for (c = 0; c < fin; c += 4) {
        const int32_t x01 = edgeq_ld32(x + c), x23 = edgeq_ld32(x + c + 2);
        S16_DOT4(s0, x01, x23, w0 + wo + c);
        S16_DOT4(s1, x01, x23, w1 + wo + c);
      }
      *acc0 += s0;
      *acc1 += s1;
    }
  }
}

/* CONV_2D with reordered weights: two output channels at a time (conv_s16_window_r4x2). */
static void conv_s16_reordered(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out) {
  const size_t filt = (size_t)p->k_h * (size_t)p->k_w * (size_t)p->filter_in_c;
  int32_t b, oy, ox, oc;
  for (b = 0; b < p->batches; ++b) {
    const int16_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        for (oc = 0; oc < p->out_c; oc += 2) {
          const int two = oc + 1 < p->out_c;
          const int8_t *w0 = p->weights + (size_t)oc * filt;
          const int8_t *w1 = two ? w0 + filt : w0; /* odd last channel: computed twice, stored once */
          int64_t acc0, acc1;
          conv_s16_window_r4x2(p, img, w0, w1, iy0, ix0, &acc0, &acc1);
          *out++ = conv_finish(acc0, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
          if (two) *out++ = conv_finish(acc1, p->bias, oc + 1, p->mult[oc + 1], p->tshift[oc + 1], p->act_min, p->act_max);
        }
      }
    }
  }
}


/* Any filter depth, groups 1, acc32: one int32 sum per window, interior rows as one contiguous loop. */
static void conv_s16_acc32(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t fin = p->filter_in_c;
  const size_t rowlen = (size_t)p->k_w * (size_t)fin;
  int32_t b, oy, ox, oc, ky, kx, c;
  for (b = 0; b < p->batches; ++b) {
    const int16_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const int inside_w = p->dilation_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w;
        for (oc = 0; oc < p->out_c; ++oc) {
          const int8_t *w = p->weights + (size_t)oc * (size_t)p->k_h * rowlen;
          int32_t sum = 0;
          for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            const int8_t *wr = w + (size_t)ky * rowlen;
            if (iy < 0 || iy >= p->in_h) continue;
            if (inside_w) {
              const int16_t *x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix0) * (size_t)p->in_c;
              for (c = 0; c < (int32_t)rowlen; ++c) sum += (int32_t)wr[c] * (int32_t)x[c];
              continue;
            }
            for (kx = 0; kx < p->k_w; ++kx) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              const int16_t *x;
              if (ix < 0 || ix >= p->in_w) continue;
              x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
              for (c = 0; c < fin; ++c) sum += (int32_t)wr[(size_t)kx * (size_t)fin + (size_t)c] * (int32_t)x[c];
            }
          }
          *out++ = conv_finish(sum, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
        }
      }
    }
  }
}

/* One output value of a (grouped) convolution: w is the channel's decoded filter row, x0 the image at the
 * channel's group. An int32 partial sum per tap as edgeq_conv_s16 (|part| <= fin * 128 * 32768). */
static int64_t conv_s16_window(const edgeq_conv_s16_params *p, const int16_t *x0, const int8_t *w, int32_t iy0,
                               int32_t ix0) {
  const int32_t fin = p->filter_in_c;
  int64_t acc = 0;
  int32_t ky, kx, c;
  for (ky = 0; ky < p->k_h; ++ky) {
    const int32_t iy = iy0 + ky * p->dilation_h;
    if (iy < 0 || iy >= p->in_h) continue;
    for (kx = 0; kx < p->k_w; ++kx) {
      const int32_t ix = ix0 + kx * p->dilation_w;
      const int16_t *x;
      const int8_t *wk;
      if (ix < 0 || ix >= p->in_w) continue;
      x = x0 + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
      wk = w + ((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)fin;
      if (fin <= 511) {
        int32_t part = 0;
        for (c = 0; c < fin; ++c) part += (int32_t)wk[c] * (int32_t)x[c];
        acc += part;
      } else {
        for (c = 0; c < fin; ++c) acc += (int32_t)wk[c] * (int32_t)x[c];
      }
    }
  }
  return acc;
}

void edgeq_conv_s16(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t fin = p->filter_in_c;
  const int32_t per_group = p->out_c / (p->in_c / fin);
  int32_t b, oy, ox, oc;
  if (p->reordered) {
    conv_s16_reordered(p, in, out);
    return;
  }
  if (p->acc32 && fin == p->in_c) {
    conv_s16_acc32(p, in, out);
    return;
  }
  for (b = 0; b < p->batches; ++b) {
    const int16_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        for (oc = 0; oc < p->out_c; ++oc) {
          const size_t g0 = (size_t)(oc / per_group) * (size_t)fin;
          const int8_t *w = p->weights + (size_t)oc * (size_t)p->k_h * (size_t)p->k_w * (size_t)fin;
          const int64_t acc = conv_s16_window(p, img + g0, w, iy0, ix0);
          *out++ = conv_finish(acc, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
        }
      }
    }
  }
}

void edgeq_depthwise_conv_s16(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t dm = p->filter_in_c;
  int32_t b, oy, ox, ic, m, ky, kx;
  for (b = 0; b < p->batches; ++b) {
    const int16_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        for (ic = 0; ic < p->in_c; ++ic) {
          for (m = 0; m < dm; ++m) {
            const int32_t oc = ic * dm + m;
            int64_t acc = 0;
            for (ky = 0; ky < p->k_h; ++ky) {
              const int32_t iy = iy0 + ky * p->dilation_h;
              if (iy < 0 || iy >= p->in_h) continue;
              for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + kx * p->dilation_w;
                if (ix < 0 || ix >= p->in_w) continue;
                acc += (int32_t)p->weights[((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)p->out_c + (size_t)oc] *
                       (int32_t)img[((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c + (size_t)ic];
              }
            }
            *out++ = conv_finish(acc, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
          }
        }
      }
    }
  }
}

void edgeq_depthwise_conv_s16_acc(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch) {
  int32_t *acc = (int32_t *)scratch;
  const int32_t dm = p->filter_in_c, C = p->out_c;
  int32_t b, oy, ox, ic, m, c, ky, kx;
  for (b = 0; b < p->batches; ++b) {
    const int16_t *img = in + (size_t)b * (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        for (c = 0; c < C; ++c) acc[c] = 0;
        for (ky = 0; ky < p->k_h; ++ky) {
          const int32_t iy = iy0 + ky * p->dilation_h;
          if (iy < 0 || iy >= p->in_h) continue;
          for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            const int16_t *x;
            const int8_t *w;
            if (ix < 0 || ix >= p->in_w) continue;
            x = img + ((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c;
            w = p->weights + ((size_t)ky * (size_t)p->k_w + (size_t)kx) * (size_t)C;
            if (dm == 1) {
              for (c = 0; c < C; ++c) acc[c] += (int32_t)w[c] * (int32_t)x[c];
            } else {
              for (ic = 0; ic < p->in_c; ++ic) {
                const int32_t xv = x[ic];
                for (m = 0; m < dm; ++m) acc[ic * dm + m] += (int32_t)w[ic * dm + m] * xv;
              }
            }
          }
        }
        for (c = 0; c < C; ++c) *out++ = conv_finish(acc[c], p->bias, c, p->mult[c], p->tshift[c], p->act_min, p->act_max);
      }
    }
  }
}

/* Decode channel c's n codebook weights (indices c * n .. c * n + n - 1 of the cb_bits-wide stream) into w:
 * edgeq_unpack_cb, 4-bit indices with edgeq_unpack_cb4 (as the int8 portable codebook kernels). */
EDGEQ_INLINE void s16_cb_decode(const uint8_t *idx, int32_t bits, const int8_t *codebook, int32_t c, int32_t n,
                                int8_t *w) {
  if (bits == 4)
    edgeq_unpack_cb4(idx, c * n, n, codebook + 16 * c, w);
  else
    edgeq_unpack_cb(idx, bits, c * n, n, codebook + ((size_t)c << bits), w);
}

/* Decode output channel oc's filter row into w (in the reordered layout when p->reordered). */
static void conv_s16_cb_row(const edgeq_conv_s16_params *p, int32_t oc, int32_t k, int8_t *w) {
  int32_t i;
  s16_cb_decode(p->weights_cb, p->cb_bits, p->codebook, oc, k, w);
  if (p->reordered) { /* (w0, w1, w2, w3) -> (w0, w2, w1, w3) per block of 4 */
    for (i = 0; i < k; i += 4) {
      const int8_t t = w[i + 1];
      w[i + 1] = w[i + 2];
      w[i + 2] = t;
    }
  }
}

void edgeq_conv_s16_cb(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch) {
  const int32_t fin = p->filter_in_c;
  const int32_t per_group = p->out_c / (p->in_c / fin);
  const int32_t k = p->k_h * p->k_w * fin;
  const size_t image = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
  int8_t *w0 = (int8_t *)scratch, *w1 = w0 + k;
  int32_t b, oy, ox, oc;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int16_t *row = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w) * (size_t)p->out_c;
      if (p->reordered) { /* groups 1: two channels at a time, as edgeq_conv_s16 */
        const int16_t *img = in + (size_t)b * image;
        for (oc = 0; oc < p->out_c; oc += 2) {
          const int two = oc + 1 < p->out_c;
          conv_s16_cb_row(p, oc, k, w0);
          if (two) conv_s16_cb_row(p, oc + 1, k, w1);
          for (ox = 0; ox < p->out_w; ++ox) {
            int16_t *y = row + (size_t)ox * (size_t)p->out_c + (size_t)oc;
            int64_t acc0, acc1;
            conv_s16_window_r4x2(p, img, w0, two ? w1 : w0, iy0, ox * p->stride_w - p->pad_w, &acc0, &acc1);
            y[0] = conv_finish(acc0, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
            if (two)
              y[1] = conv_finish(acc1, p->bias, oc + 1, p->mult[oc + 1], p->tshift[oc + 1], p->act_min, p->act_max);
          }
        }
        continue;
      }
      for (oc = 0; oc < p->out_c; ++oc) {
        const int16_t *x0 = in + (size_t)b * image + (size_t)(oc / per_group) * (size_t)fin;
        conv_s16_cb_row(p, oc, k, w0);
        for (ox = 0; ox < p->out_w; ++ox) {
          const int64_t acc = conv_s16_window(p, x0, w0, iy0, ox * p->stride_w - p->pad_w);
          row[(size_t)ox * (size_t)p->out_c + (size_t)oc] =
              conv_finish(acc, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
        }
      }
    }
  }
}

void edgeq_depthwise_conv_s16_cb(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch) {
  const int32_t k = p->k_h * p->k_w;
  const size_t image = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
  int8_t *w = (int8_t *)scratch;
  int32_t b, oy, ox, oc, ky, kx;
  for (b = 0; b < p->batches; ++b) {
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int16_t *row = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w) * (size_t)p->out_c;
      for (oc = 0; oc < p->out_c; ++oc) {
        const int16_t *img = in + (size_t)b * image + (size_t)(oc / p->filter_in_c);
        s16_cb_decode(p->weights_cb, p->cb_bits, p->codebook, oc, k, w);
        for (ox = 0; ox < p->out_w; ++ox) {
          const int32_t ix0 = ox * p->stride_w - p->pad_w;
          int64_t acc = 0;
          for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= p->in_h) continue;
            for (kx = 0; kx < p->k_w; ++kx) {
              const int32_t ix = ix0 + kx * p->dilation_w;
              if (ix < 0 || ix >= p->in_w) continue;
              acc += (int32_t)w[ky * p->k_w + kx] *
                     (int32_t)img[((size_t)iy * (size_t)p->in_w + (size_t)ix) * (size_t)p->in_c];
            }
          }
          row[(size_t)ox * (size_t)p->out_c + (size_t)oc] =
              conv_finish(acc, p->bias, oc, p->mult[oc], p->tshift[oc], p->act_min, p->act_max);
        }
      }
    }
  }
}

EDGEQ_INLINE int16_t fc_s16_finish(const edgeq_fully_connected_s16_params *p, int64_t acc, int32_t o) {
  if (p->bias) acc += p->bias[o];
  return (int16_t)edgeq_clamp_i32(
      (p->reduced ? edgeq_requant_s64(acc, p->mult[o], p->shift[o])
                  : edgeq_requant((int32_t)acc, p->mult[o], p->shift[o], p->rq.rounding)) + p->rq.output_offset,
      p->rq.act_min, p->rq.act_max);
}

void edgeq_fully_connected_s16_cb(const edgeq_fully_connected_s16_params *p, const int16_t *in, int16_t *out,
                                  void *scratch) {
  const int32_t n = p->in_features;
  int8_t *w = (int8_t *)scratch;
  int32_t b, o, i;
  for (o = 0; o < p->out_features; ++o) {
    s16_cb_decode(p->weights_cb, p->cb_bits, p->codebook, o, n, w);
    for (b = 0; b < p->batches; ++b) {
      const int16_t *x = in + (size_t)b * (size_t)n;
      int64_t acc = 0;
      for (i = 0; i < n; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
      out[(size_t)b * (size_t)p->out_features + (size_t)o] = fc_s16_finish(p, acc, o);
    }
  }
}

void edgeq_fully_connected_s16(const edgeq_fully_connected_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t n = p->in_features;
  int32_t b, o, i;
  for (b = 0; b < p->batches; ++b) {
    const int16_t *x = in + (size_t)b * (size_t)n;
    for (o = 0; o < p->out_features; ++o) {
      const int8_t *w = p->weights + (size_t)o * (size_t)n;
      int64_t acc = 0;
      for (i = 0; i < n; ++i) acc += (int32_t)w[i] * (int32_t)x[i];
      *out++ = fc_s16_finish(p, acc, o);
    }
  }
}
