/* edgeq: CONV_2D's Helium body, included by conv.c: edgeq_conv_s8_im2col takes it on cores with MVE
 * (EDGEQ_MVE), where the lowering (--cpu mve) gives it the plain int8 weights [out_c][k_h][k_w][in_c], acc_init
 * and a scratch of 4 * k_pad >= K = k_h * k_w * in_c bytes, and no DSP pack (wq = NULL).
 *
 * Per output pixel the window is gathered into scratch as K contiguous bytes (im2col, in the weights' order;
 * taps outside the input hold the input zero point, so that x + input_offset = 0 there) unless it is already
 * contiguous in the input (one kernel row, no padding: 1x1 convolutions). Then, four output channels per
 * pass, acc = acc_init[oc] + sum x * w over the K bytes with VMLADAVA.S8 (16 int8 lanes, one input vector
 * shared by the four weight rows, a tail-predicated loop), which is the reference's
 * bias + sum (x + input_offset) * w (integer addition is associative). Each group's four accumulators are
 * requantized together (edgeq_mve_requant_double, exact gemmlowp double rounding) and stored as 4 bytes; a
 * partial group of four is the group ending at out_c (its first channels are computed and stored twice,
 * with the same values). Other configurations (groups, dilation, single rounding, no acc_init, fewer than 4 output
 * channels) return 0 and the caller takes the portable loop. */
#ifndef EDGEQ_CONV_MVE_H
#define EDGEQ_CONV_MVE_H
#include "conv.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* All out_c >= 4 channels of one output pixel from its window x (K bytes): per group of four (a partial
 * group: the four ending at out_c) acc = acc_init + edgeq_mve_dot4, then requantized, clamped and stored as 4
 * bytes. Out of line, so its registers (the dot loop's, the vector constants') are allocated apart from the
 * pixel loop's. */
static EDGEQ_NOINLINE void conv_mve_pixel(const edgeq_conv_s8_params *p, const int8_t *x, int8_t *y) {
  const int32_t out_c = p->out_c, K = p->k_h * p->k_w * p->in_c, pc = p->per_channel;
  const int32x4_t out_off = vdupq_n_s32(p->rq.output_offset);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  const int32x4_t m_all = vdupq_n_s32(p->mult[0]), sh_all = vdupq_n_s32(p->shift[0]);
  int32_t j;
  for (j = 0; j < out_c; j += 4) {
    const int32_t g = edgeq_min_i32(j, out_c - 4);
    int32_t acc[4];
    int32x4_t v;
    edgeq_mve_dot4(x, p->weights + (size_t)g * (size_t)K, K, K, p->acc_init + g, acc);
    v = edgeq_mve_requant_double(vld1q_s32(acc), pc ? vld1q_s32(p->mult + g) : m_all,
                                 pc ? vld1q_s32(p->shift + g) : sh_all);
    vstrbq_s32(y + g, vminq_s32(vmaxq_s32(vaddq_s32(v, out_off), lo), hi));
  }
}

/* dst[0..n) = src[0..n) (16 bytes per step, a predicated tail) */
EDGEQ_INLINE void conv_mve_copy(int8_t *dst, const int8_t *src, int32_t n) {
  for (; n > 0; n -= 16, dst += 16, src += 16) {
    const mve_pred16_t pr = vctp8q((uint32_t)n);
    vst1q_p_s8(dst, vld1q_z_s8(src, pr), pr);
  }
}

/* dst[0..n) = v */
EDGEQ_INLINE void conv_mve_fill(int8_t *dst, int8x16_t v, int32_t n) {
  for (; n > 0; n -= 16, dst += 16) vst1q_p_s8(dst, v, vctp8q((uint32_t)n));
}

static int conv_mve(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int8_t *buf) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w;
  const int32_t w_row = k_w * in_c, x_row = in_w * in_c;
  const int8x16_t pad = vdupq_n_s8((int8_t)-p->input_offset);
  int32_t b, oy, ox, ky;
  if (p->filter_in_c != in_c || p->dilation_h != 1 || p->dilation_w != 1 || p->acc_init == NULL ||
      p->rq.rounding != EDGEQ_ROUND_DOUBLE || out_c < 4)
    return 0;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)x_row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, 1, k_h, in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t kx0, kx1;
        const int8_t *x;
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)out_c;
        edgeq_tap_range(ix0, 1, k_w, in_w, &kx0, &kx1);
        if (k_h == 1 && ky0 == 0 && ky1 == 1 && kx0 == 0 && kx1 == k_w) {
          x = img + (size_t)iy0 * (size_t)x_row + (size_t)ix0 * (size_t)in_c; /* already contiguous */
        } else {
          int8_t *d = buf;
          const int32_t before = kx0 * in_c, run = (kx1 - kx0) * in_c, after = w_row - before - run;
          conv_mve_fill(d, pad, ky0 * w_row);
          d += ky0 * w_row;
          for (ky = ky0; ky < ky1; ++ky, d += w_row) {
            conv_mve_fill(d, pad, before);
            conv_mve_copy(d + before, img + (size_t)(iy0 + ky) * (size_t)x_row + (size_t)(ix0 + kx0) * (size_t)in_c,
                          run);
            conv_mve_fill(d + before + run, pad, after);
          }
          conv_mve_fill(d, pad, (k_h - ky1) * w_row);
          x = buf;
        }
        conv_mve_pixel(p, x, y);
      }
    }
  }
  return 1;
}
#endif

#endif /* EDGEQ_CONV_MVE_H */
