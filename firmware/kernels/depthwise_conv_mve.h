/* edgeq: DEPTHWISE_CONV_2D's Helium body, included by depthwise_conv.c: edgeq_depthwise_conv_s8 takes it on
 * cores with MVE (EDGEQ_MVE) when there is no DSP pack (the lowering emits none for --cpu mve), reading the
 * plain int8 weights [k_h][k_w][out_c].
 *
 * Per output pixel, eight channels per step (dw_mve_group8, int16 lanes widened into two int32 accumulators),
 * then four (dw_mve_group, int32 lanes): acc starts from acc_init (window inside the input) or bias (clipped
 * window), then per valid tap acc += x * w, with x + input_offset on clipped windows (the reference's bias + sum (x + input_offset) * w over the
 * valid taps; acc_init = bias + input_offset * sum w folds the offset for whole windows). The accumulators are
 * requantized with edgeq_mve_requant_double (exact gemmlowp double rounding), clamped and stored as 4 bytes;
 * the last out_c % 4 channels under a predicate (inactive lanes neither load nor store). Depth multipliers
 * other than 1 and single rounding return 0 and take the portable loop. */
#ifndef EDGEQ_DEPTHWISE_CONV_MVE_H
#define EDGEQ_DEPTHWISE_CONV_MVE_H
#include "depthwise_conv.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* Four channels c..c+3 of one output pixel (PRED: under predicate pr, for the last out_c % 4 channels). */
EDGEQ_INLINE void dw_mve_group(const edgeq_depthwise_conv_s8_params *p, const int8_t *x0, const int8_t *w0,
                               int32_t ny, int32_t nx, int32_t xs_row, int32_t xs_col, int32_t full,
                               int32_t c, int8_t *y, int PRED, mve_pred16_t pr) {
  const int32_t out_c = p->out_c, off = p->input_offset;
  const int32_t *init = full ? p->acc_init : p->bias;
  int32x4_t acc = init == NULL ? vdupq_n_s32(0) : PRED ? vldrwq_z_s32(init + c, pr) : vld1q_s32(init + c);
  int32x4_t m, sh;
  int32_t ky, kx;
  for (ky = 0; ky < ny; ++ky, x0 += xs_row, w0 += p->k_w * out_c) {
    const int8_t *x = x0 + c, *w = w0 + c;
    for (kx = 0; kx < nx; ++kx, x += xs_col, w += out_c) {
      int32x4_t xv = PRED ? vldrbq_z_s32(x, pr) : vldrbq_s32(x);
      const int32x4_t wv = PRED ? vldrbq_z_s32(w, pr) : vldrbq_s32(w);
      if (!full) xv = vaddq_n_s32(xv, off);
      acc = vaddq_s32(acc, vmulq_s32(xv, wv));
    }
  }
  if (p->per_channel) {
    m = PRED ? vldrwq_z_s32(p->mult + c, pr) : vld1q_s32(p->mult + c);
    sh = PRED ? vldrwq_z_s32(p->shift + c, pr) : vld1q_s32(p->shift + c);
  } else {
    m = vdupq_n_s32(p->mult[0]);
    sh = vdupq_n_s32(p->shift[0]);
  }
  acc = vaddq_s32(edgeq_mve_requant_double(acc, m, sh), vdupq_n_s32(p->rq.output_offset));
  acc = vminq_s32(vmaxq_s32(acc, vdupq_n_s32(p->rq.act_min)), vdupq_n_s32(p->rq.act_max));
  if (PRED)
    vstrbq_p_s32(y + c, acc, pr);
  else
    vstrbq_s32(y + c, acc);
}

/* Eight channels c..c+7 of one output pixel in int16 lanes: per tap x and w as 8 int16 lanes (x + input_offset
 * on clipped windows: |x + input_offset| <= 255), their products widened into the even-lane (VMULLB) and
 * odd-lane (VMULLT) int32 accumulators; init, multipliers and shifts loaded de-interleaved (VLD2), the
 * results narrowed back into 8 int16 lanes (VMOVNB / VMOVNT) and stored as 8 bytes. */
EDGEQ_INLINE void dw_mve_group8(const edgeq_depthwise_conv_s8_params *p, const int8_t *x0, const int8_t *w0,
                                int32_t ny, int32_t nx, int32_t xs_row, int32_t xs_col, int32_t full, int32_t c,
                                int8_t *y, int32x4_t oo, int32x4_t lo, int32x4_t hi) {
  const int32_t out_c = p->out_c, off = p->input_offset, w_row = p->k_w * out_c;
  const int32_t *init = full ? p->acc_init : p->bias;
  int32x4_t ae, ao, me, mo, se, so;
  int16x8_t r = vdupq_n_s16(0);
  int32_t ky, kx;
  if (init != NULL) {
    const int32x4x2_t v = vld2q_s32(init + c);
    ae = v.val[0];
    ao = v.val[1];
  } else {
    ae = ao = vdupq_n_s32(0);
  }
  for (ky = 0; ky < ny; ++ky, x0 += xs_row, w0 += w_row) {
    const int8_t *x = x0 + c, *w = w0 + c;
    if (full) {
      for (kx = 0; kx < nx; ++kx, x += xs_col, w += out_c) {
        const int16x8_t xv = vldrbq_s16(x), wv = vldrbq_s16(w);
        ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
        ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
      }
    } else {
      for (kx = 0; kx < nx; ++kx, x += xs_col, w += out_c) {
        const int16x8_t xv = vaddq_n_s16(vldrbq_s16(x), (int16_t)off), wv = vldrbq_s16(w);
        ae = vaddq_s32(ae, vmullbq_int_s16(xv, wv));
        ao = vaddq_s32(ao, vmulltq_int_s16(xv, wv));
      }
    }
  }
  if (p->per_channel) {
    const int32x4x2_t m = vld2q_s32(p->mult + c), sh = vld2q_s32(p->shift + c);
    me = m.val[0];
    mo = m.val[1];
    se = sh.val[0];
    so = sh.val[1];
  } else {
    me = mo = vdupq_n_s32(p->mult[0]);
    se = so = vdupq_n_s32(p->shift[0]);
  }
  ae = vminq_s32(vmaxq_s32(vaddq_s32(edgeq_mve_requant_double(ae, me, se), oo), lo), hi);
  ao = vminq_s32(vmaxq_s32(vaddq_s32(edgeq_mve_requant_double(ao, mo, so), oo), lo), hi);
  r = vmovnbq_s32(r, ae);
  r = vmovntq_s32(r, ao);
  vstrbq_s16(y + c, r);
}

/* The first n8 (a multiple of 8) channels of one output pixel, 8 at a time. Out of line, so its registers
 * (the tap loop's, the vector constants') are allocated apart from the pixel loop's. */
static EDGEQ_NOINLINE void dw_mve_pixel8(const edgeq_depthwise_conv_s8_params *p, const int8_t *x0, const int8_t *w0,
                                         int32_t ny, int32_t nx, int32_t xs_row, int32_t xs_col, int32_t full,
                                         int32_t n8, int8_t *y) {
  const int32x4_t oo = vdupq_n_s32(p->rq.output_offset);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  int32_t c;
  for (c = 0; c < n8; c += 8) dw_mve_group8(p, x0, w0, ny, nx, xs_row, xs_col, full, c, y, oo, lo, hi);
}

static int dw_mve(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, dh = p->dilation_h, dw = p->dilation_w;
  const int32_t x_row = in_w * in_c, main8 = out_c & ~7, main_c = out_c & ~3;
  int32_t b, oy, ox, c;
  if (p->depth_mult != 1 || p->rq.rounding != EDGEQ_ROUND_DOUBLE) return 0;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)x_row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, dh, k_h, in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t kx0, kx1, full;
        const int8_t *x0, *w0;
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)out_c;
        edgeq_tap_range(ix0, dw, k_w, in_w, &kx0, &kx1);
        full = p->acc_init != NULL && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
        x0 = img + (size_t)(iy0 + ky0 * dh) * (size_t)x_row + (size_t)(ix0 + kx0 * dw) * (size_t)in_c;
        w0 = p->weights + ((size_t)ky0 * (size_t)k_w + (size_t)kx0) * (size_t)out_c;
        if (main8 > 0) dw_mve_pixel8(p, x0, w0, ky1 - ky0, kx1 - kx0, dh * x_row, dw * in_c, full, main8, y);
        for (c = main8; c < main_c; c += 4)
          dw_mve_group(p, x0, w0, ky1 - ky0, kx1 - kx0, dh * x_row, dw * in_c, full, c, y, 0, 0);
        if (c < out_c)
          dw_mve_group(p, x0, w0, ky1 - ky0, kx1 - kx0, dh * x_row, dw * in_c, full, c, y, 1,
                       vctp32q((uint32_t)(out_c - c)));
      }
    }
  }
  return 1;
}
#endif

#endif /* EDGEQ_DEPTHWISE_CONV_MVE_H */
