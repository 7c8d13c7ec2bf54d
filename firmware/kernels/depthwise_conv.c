#include "depthwise_conv.h"
#include "depthwise_conv_mve.h"

/* Output channels accumulated together per output pixel (int32 accumulators on the stack). */
#define EDGEQ_DW_BLOCK 32

#if EDGEQ_DSP
/* The DSP path runs 3x3 windows, depth_mult 1 and out_c <= 4 * EDGEQ_DW_ZBUF_WORDS rounded up to 4 (the
 * lowering emits dsp_pack only then): taps outside the input read zbuf, EDGEQ_DW_ZBUF_WORDS words of the
 * input zero point. */
#define EDGEQ_DW_ZBUF_WORDS 64

/* a0..a3 += one tap of 4 channels: x word at [q + g] with q = tp[t], weights at w (advanced 8 bytes). */
#define DW_TAP(T)                                 \
  "ldr %[q], [%[tp], #" #T " * 4]\n\t"             \
  "ldr %[xv], [%[q], %[g]]\n\t"                   \
  "ldrd %[we], %[wo], [%[w]], #8\n\t"             \
  "sxtb16 %[xe], %[xv]\n\t"                       \
  "sxtb16 %[xv], %[xv], ror #8\n\t"               \
  "smlabb %[a0], %[xe], %[we], %[a0]\n\t"         \
  "smlatt %[a2], %[xe], %[we], %[a2]\n\t"         \
  "smlabb %[a1], %[xv], %[wo], %[a1]\n\t"         \
  "smlatt %[a3], %[xv], %[wo], %[a3]\n\t"

/* Requantize a0..a3 with the params at w (m[4], rb[4], e[4]): per channel
 * ssat8((smmlar(acc2, m, rb - (acc2 < 0))) >> e) = MultiplyByQuantizedMultiplier (double rounding) +
 * output_offset, saturated; packs the 4 bytes into a0. */
#define DW_REQ4                                   \
  "ldrd %[we], %[wo], [%[w], #16]\n\t"            \
  "sub %[we], %[we], %[a0], lsr #31\n\t"          \
  "sub %[wo], %[wo], %[a1], lsr #31\n\t"          \
  "ldrd %[xe], %[xv], [%[w]]\n\t"                 \
  "smmlar %[a0], %[a0], %[xe], %[we]\n\t"         \
  "smmlar %[a1], %[a1], %[xv], %[wo]\n\t"         \
  "ldrd %[we], %[wo], [%[w], #32]\n\t"            \
  "asr %[a0], %[a0], %[we]\n\t"                   \
  "asr %[a1], %[a1], %[wo]\n\t"                   \
  "ldrd %[we], %[wo], [%[w], #24]\n\t"            \
  "sub %[we], %[we], %[a2], lsr #31\n\t"          \
  "sub %[wo], %[wo], %[a3], lsr #31\n\t"          \
  "ldrd %[xe], %[xv], [%[w], #8]\n\t"             \
  "smmlar %[a2], %[a2], %[xe], %[we]\n\t"         \
  "smmlar %[a3], %[a3], %[xv], %[wo]\n\t"         \
  "ldrd %[we], %[wo], [%[w], #40]\n\t"            \
  "asr %[a2], %[a2], %[we]\n\t"                   \
  "asr %[a3], %[a3], %[wo]\n\t"                   \
  "ssat %[a0], #8, %[a0]\n\t"                     \
  "ssat %[a1], #8, %[a1]\n\t"                     \
  "ssat %[a2], #8, %[a2]\n\t"                     \
  "ssat %[a3], #8, %[a3]\n\t"                     \
  "bfi %[a0], %[a1], #8, #8\n\t"                  \
  "bfi %[a0], %[a2], #16, #8\n\t"                 \
  "bfi %[a0], %[a3], #24, #8\n\t"

/* Per-pixel context of the asm loop, relative to the window origin o = in + (iy0 * in_w + ix0) * c (the
 * loop runs g from o to o + c in steps of 4 and reads tap t at cx[t] + g): 9 tap offsets, then the
 * output pixel - o, o + c, clamp?, lo4, hi4, o. Interior windows share one constant set of offsets. */
enum { DW_CX_Y = 9, DW_CX_END, DW_CX_CLAMP, DW_CX_LO, DW_CX_HI, DW_CX_G0, DW_CX_N };

/* One pass of the channel-quad loop over the pixel context cx (see DW_CX_*): from cx[DW_CX_G0] to
 * cx[DW_CX_END] in steps of 4 channels, constants from w; returns w advanced past the groups it ran.
 * Out of line: one copy of the asm serves the quads and the tail. */
static const int32_t *__attribute__((noinline)) dw_dsp_loop(uintptr_t *cx, const int32_t *w) {
  int32_t a0, a1, a2, a3, g;
  uint32_t xv, xe, we, wo;
  const int8_t *q;
  __asm__ volatile(
      "ldr %[g], [%[tp], #56]\n"
      "1:\n\t"
      "ldrd %[a0], %[a1], [%[w]], #8\n\t"
      "ldrd %[a2], %[a3], [%[w]], #8\n\t"
      DW_TAP(0) DW_TAP(1) DW_TAP(2) DW_TAP(3) DW_TAP(4) DW_TAP(5) DW_TAP(6) DW_TAP(7) DW_TAP(8)
      DW_REQ4
      "add %[w], %[w], #48\n\t"
      "ldr %[xv], [%[tp], #44]\n\t"
      "cbz %[xv], 2f\n\t"
      /* bytewise a0 = min(max(a0, lo4), hi4) */
      "ldrd %[we], %[wo], [%[tp], #48]\n\t"
      "ssub8 %[xe], %[a0], %[we]\n\t"
      "sel %[a0], %[a0], %[we]\n\t"
      "ssub8 %[xe], %[a0], %[wo]\n\t"
      "sel %[a0], %[wo], %[a0]\n"
      "2:\n\t"
      "ldrd %[q], %[xv], [%[tp], #36]\n\t"
      "str %[a0], [%[q], %[g]]\n\t"
      "add %[g], %[g], #4\n\t"
      "cmp %[g], %[xv]\n\t"
      "blo 1b"
      : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w), [q] "=&r"(q),
        [xv] "=&l"(xv), [xe] "=&r"(xe), [we] "=&r"(we), [wo] "=&r"(wo), [g] "=&r"(g)
      : [tp] "r"(cx)
      : "cc", "memory");
  return w;
}

/* The last 1-3 channels of a pixel (out_c % 4 != 0): the pack's last group is padded with zero-weight
 * lanes, so one more pass of the same loop computes 4 lanes into a word (the padded lanes read up to 3
 * bytes past the pixel's channels, multiplied by 0) and only the n real ones are stored. */
static void dw_dsp_tail(uintptr_t *cx, uintptr_t g0, const int32_t *w, int8_t *y, int32_t n) {
  uint32_t word = 0;
  int32_t j;
  cx[DW_CX_Y] = (uintptr_t)&word - g0;
  cx[DW_CX_G0] = g0;
  cx[DW_CX_END] = g0 + 1u;
  (void)dw_dsp_loop(cx, w);
  for (j = 0; j < n; ++j) y[j] = (int8_t)(word >> (8 * j));
}

static void dw_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->out_c, c4 = c & ~3;
  const int32_t x_row = in_w * c, dh = p->dilation_h, dw = p->dilation_w;
  const uint32_t zp4 = (uint32_t)(uint8_t)(int8_t)(-p->input_offset) * 0x01010101u;
  uint32_t zbuf[EDGEQ_DW_ZBUF_WORDS];
  uintptr_t cxi[DW_CX_N], cxb[DW_CX_N];
  int32_t b, oy, ox, ky, kx, t;
  for (t = 0; t < EDGEQ_DW_ZBUF_WORDS; ++t) zbuf[t] = zp4;
  for (ky = 0, t = 0; ky < 3; ++ky) {
    for (kx = 0; kx < 3; ++kx) cxi[t++] = (uintptr_t)(ky * dh * x_row + kx * dw * c);
  }
  cxi[DW_CX_CLAMP] = cxb[DW_CX_CLAMP] = p->rq.act_min > -128 || p->rq.act_max < 127;
  cxi[DW_CX_LO] = cxb[DW_CX_LO] = (uint32_t)(uint8_t)(int8_t)p->rq.act_min * 0x01010101u;
  cxi[DW_CX_HI] = cxb[DW_CX_HI] = (uint32_t)(uint8_t)(int8_t)p->rq.act_max * 0x01010101u;
  for (b = 0; b < p->batches; ++b) {
    const uintptr_t img = (uintptr_t)(in + (size_t)b * (size_t)in_h * (size_t)x_row);
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int rows_in = iy0 >= 0 && iy0 + 2 * dh < in_h;
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const uintptr_t o = img + (uintptr_t)(iy0 * x_row + ix0 * c);
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)c;
        uintptr_t *cx = cxi;
        const int32_t *w = p->dsp_pack;
        if (!(rows_in && ix0 >= 0 && ix0 + 2 * dw < in_w)) {
          /* taps outside the input read the input zero point: with acc_init's input_offset * sum(w)
           * they contribute (zp - zp) * w = 0, as the reference's skipped taps */
          cx = cxb;
          for (ky = 0, t = 0; ky < 3; ++ky) {
            const int32_t iy = iy0 + ky * dh;
            for (kx = 0; kx < 3; ++kx, ++t) {
              const int32_t ix = ix0 + kx * dw;
              cx[t] = ((uint32_t)iy < (uint32_t)in_h && (uint32_t)ix < (uint32_t)in_w ? cxi[t]
                                                                                      : (uintptr_t)zbuf - o);
            }
          }
        }
        cx[DW_CX_Y] = (uintptr_t)y - o;
        cx[DW_CX_END] = o + (uintptr_t)c4;
        cx[DW_CX_G0] = o;
        if (c4 > 0) w = dw_dsp_loop(cx, w);
        if (c4 != c) dw_dsp_tail(cx, o + (uintptr_t)c4, w, y + c4, c - c4);
      }
    }
  }
}
#endif

/* Loop-invariant values of a call, read once (stores through int8_t pointers may alias the params). */
typedef struct {
  int32_t in_c, k_w, dm, dh, dw, x_row, off;
} dw_geom;

EDGEQ_INLINE dw_geom dw_geom_of(const edgeq_depthwise_conv_s8_params *p) {
  dw_geom c;
  c.in_c = p->in_c;
  c.k_w = p->k_w;
  c.dm = p->depth_mult;
  c.dh = p->dilation_h;
  c.dw = p->dilation_w;
  c.x_row = p->in_w * p->in_c;
  c.off = p->input_offset;
  return c;
}

/* Channels oc0..oc0+n of one output pixel (window origin iy0, ix0; valid taps ky0..ky1, kx0..kx1; full:
 * start from acc_init and leave out the input offset) into y[oc0..]: the weights of tap (ky, kx) and
 * channel oc0 + j are wb[(ky * k_w + kx) * w_tap + j]. */
EDGEQ_INLINE void dw_pixel_block(const edgeq_depthwise_conv_s8_params *p, const dw_geom c, const int8_t *img,
                                 int32_t iy0, int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                                 int32_t full, int32_t oc0, int32_t n, const int8_t *wb, int32_t w_tap, int8_t *y) {
  const int32_t in_c = c.in_c, k_w = c.k_w, dm = c.dm;
  const int32_t dh = c.dh, dw = c.dw;
  const int32_t x_row = c.x_row;
  const int32_t off = c.off;
  const int32_t *init = full ? p->acc_init : p->bias;
  int32_t acc[EDGEQ_DW_BLOCK];
  int32_t j, ky, kx;
  for (j = 0; j < n; ++j) acc[j] = init ? init[oc0 + j] : 0;
  for (ky = ky0; ky < ky1; ++ky) {
    const int8_t *xr = img + (size_t)(iy0 + ky * dh) * (size_t)x_row;
    const int8_t *wr = wb + (size_t)ky * (size_t)k_w * (size_t)w_tap;
    for (kx = kx0; kx < kx1; ++kx) {
      const int8_t *x = xr + (size_t)(ix0 + kx * dw) * (size_t)in_c;
      const int8_t *w = wr + (size_t)kx * (size_t)w_tap;
      if (dm == 1) {
        x += oc0;
        if (full) {
          for (j = 0; j < n; ++j) acc[j] += (int32_t)x[j] * (int32_t)w[j];
        } else {
          for (j = 0; j < n; ++j) acc[j] += ((int32_t)x[j] + off) * (int32_t)w[j];
        }
      } else {
        /* output channel oc reads input channel oc / dm; walk (ic, m) alongside j */
        int32_t ic = oc0 / dm, m = oc0 % dm;
        const int32_t xo = full ? 0 : off;
        for (j = 0; j < n; ++j) {
          acc[j] += ((int32_t)x[ic] + xo) * (int32_t)w[j];
          if (++m == dm) {
            m = 0;
            ++ic;
          }
        }
      }
    }
  }
  for (j = 0; j < n; ++j) {
    const int32_t oc = oc0 + j;
    const int32_t c = p->per_channel ? oc : 0;
    y[oc] = (int8_t)edgeq_requant_clamp(&p->rq, acc[j], p->mult[c], p->shift[c]);
  }
}

/* Every output pixel for the channels oc0..oc0+n (weights as in dw_pixel_block). */
EDGEQ_INLINE void dw_pixels(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t oc0,
                            int32_t n, const int8_t *wb, int32_t w_tap) {
  const int32_t in_h = p->in_h, in_w = p->in_w, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w;
  const size_t x_img = (size_t)in_h * (size_t)in_w * (size_t)p->in_c;
  const dw_geom geom = dw_geom_of(p);
  int32_t b, oy, ox;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * x_img;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, k_h, in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t kx0, kx1, full;
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)out_c;
        edgeq_tap_range(ix0, p->dilation_w, k_w, in_w, &kx0, &kx1);
        full = p->acc_init != NULL && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
        dw_pixel_block(p, geom, img, iy0, ix0, ky0, ky1, kx0, kx1, full, oc0, n, wb, w_tap, y);
      }
    }
  }
}

void edgeq_depthwise_conv_s8(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w;
  const dw_geom geom = dw_geom_of(p);
  int32_t b, oy, ox, oc0;
#if EDGEQ_DSP
  if (p->dsp_pack != NULL) {
    dw_dsp(p, in, out);
    return;
  }
#endif
#if EDGEQ_MVE
  if (dw_mve(p, in, out)) return; /* depthwise_conv_mve.h */
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, k_h, in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t kx0, kx1, full;
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)out_c;
        edgeq_tap_range(ix0, p->dilation_w, k_w, in_w, &kx0, &kx1);
        full = p->acc_init != NULL && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
        for (oc0 = 0; oc0 < out_c; oc0 += EDGEQ_DW_BLOCK) {
          const int32_t n = out_c - oc0 < EDGEQ_DW_BLOCK ? out_c - oc0 : EDGEQ_DW_BLOCK;
          dw_pixel_block(p, geom, img, iy0, ix0, ky0, ky1, kx0, kx1, full, oc0, n, p->weights + oc0, out_c, y);
        }
      }
    }
  }
}

#if EDGEQ_DSP
/* dsp_pack (see depthwise_conv.h) built from dsp_pack_s4 and weights_s4 into pack. */
static void dw_build_pack_s4(const edgeq_depthwise_conv_s8_params *p, int32_t *pack) {
  const int32_t out_c = p->out_c, taps = p->k_h * p->k_w, groups = (out_c + 3) >> 2;
  const int32_t *src = p->dsp_pack_s4;
  int32_t g, t, j;
  for (g = 0; g < groups; ++g, src += 20, pack += 4 + 2 * taps + 12) {
    for (j = 0; j < 4; ++j) pack[j] = src[j];
    for (t = 0; t < taps; ++t) {
      uint32_t lane[4];
      for (j = 0; j < 4; ++j) {
        const int32_t c = 4 * g + j;
        int8_t v = 0;
        if (c < out_c) edgeq_unpack_s4(p->weights_s4, t * out_c + c, 1, &v);
        lane[j] = (uint32_t)((int32_t)v << src[4 + j]) & 0xFFFFu;
      }
      pack[4 + 2 * t] = (int32_t)(lane[0] | lane[2] << 16);
      pack[5 + 2 * t] = (int32_t)(lane[1] | lane[3] << 16);
    }
    for (j = 0; j < 12; ++j) pack[4 + 2 * taps + j] = src[8 + j];
  }
}
#endif

void edgeq_depthwise_conv_s4(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  const int32_t out_c = p->out_c, taps = p->k_h * p->k_w;
  int8_t *wb = (int8_t *)scratch;
  int32_t oc0, t;
#if EDGEQ_DSP
  if (p->dsp_pack_s4 != NULL) {
    edgeq_depthwise_conv_s8_params q = *p;
    dw_build_pack_s4(p, (int32_t *)scratch);
    q.dsp_pack = (const int32_t *)scratch;
    dw_dsp(&q, in, out);
    return;
  }
#endif
  for (oc0 = 0; oc0 < out_c; oc0 += EDGEQ_DW_BLOCK) {
    const int32_t n = out_c - oc0 < EDGEQ_DW_BLOCK ? out_c - oc0 : EDGEQ_DW_BLOCK;
    for (t = 0; t < taps; ++t) edgeq_unpack_s4(p->weights_s4, t * out_c + oc0, n, wb + (size_t)t * (size_t)n);
    dw_pixels(p, in, out, oc0, n, wb, n);
  }
}
