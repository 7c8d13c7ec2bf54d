#include "depthwise_conv.h"
#include "depthwise_conv_mve.h"

/* Output channels accumulated together per output pixel (int32 accumulators on the stack). */
#define EDGEQ_DW_BLOCK 32

#if EDGEQ_DSP
/* The DSP path runs 3x3 windows, depth_mult 1 and out_c <= 4 * EDGEQ_DW_ZBUF_WORDS rounded up to 4 (the
 * lowering emits dsp_pack only then): taps outside the input read zbuf, EDGEQ_DW_ZBUF_WORDS words of the
 * input zero point. */
#define EDGEQ_DW_ZBUF_WORDS 64

/* Per-pixel context of the asm loop, relative to the window origin o = in + (iy0 * in_w + ix0) * c (the
 * loop runs g from o to o + c in steps of 4 and reads tap t at cx[DW_CX_T0 + t] + g): clamp?, the output
 * pixel - o, o + c (first, so that one LDM reads the three at each group's store), the 9 tap offsets,
 * 2 * rq.output_offset + 1 (after tap 8's offset: one LDRD reads both), then lo4, hi4, o. Interior windows
 * share one constant set of offsets. */
enum { DW_CX_CLAMP, DW_CX_Y, DW_CX_END, DW_CX_T0, DW_CX_K = DW_CX_T0 + 9, DW_CX_LO, DW_CX_HI, DW_CX_G0, DW_CX_N };
_Static_assert(DW_CX_T0 == 3 && DW_CX_K == 12 && DW_CX_LO == 13 && DW_CX_G0 == 15,
               "the byte offsets dw_dsp_loop reads");

/* Taps 2P, 2P+1 of 4 channels (registers: r4 context, r5 g, r11 r12 the pair's weight words (WLOAD loads
 * them, or the group's first LDM did); r0..r3 the channels' accumulators): the two x words X1, X2 are paired
 * bytewise (PKHBT: c0 c1 of both, PKHTB: c2 c3), so SXTB16 of a pair gives (X1[c], X2[c]) and of the
 * weight word (w[2P][c], w[2P+1][c]): one SMLAD each. */
#define DW_PAIR(P, WLOAD)                          \
  "ldrd r8, r9, [r4, #(12 + " #P " * 8)]\n\t"      \
  "ldr r8, [r8, r5]\n\t"                           \
  "ldr r9, [r9, r5]\n\t"                           \
  "pkhbt r10, r8, r9, lsl #16\n\t"                 \
  "pkhtb r9, r9, r8, asr #16\n\t"                  \
  WLOAD                                            \
  "sxtb16 r8, r10\n\t"                             \
  "sxtb16 r10, r10, ror #8\n\t"                    \
  "sxtb16 lr, r11\n\t"                             \
  "sxtb16 r11, r11, ror #8\n\t"                    \
  "smlad r0, r8, lr, r0\n\t"                       \
  "smlad r1, r10, r11, r1\n\t"                     \
  "sxtb16 r8, r9\n\t"                              \
  "sxtb16 r9, r9, ror #8\n\t"                      \
  "sxtb16 lr, r12\n\t"                             \
  "sxtb16 r12, r12, ror #8\n\t"                    \
  "smlad r2, r8, lr, r2\n\t"                       \
  "smlad r3, r9, r12, r3\n\t"
#define DW_WLOAD "ldrd r11, r12, [r6], #8\n\t"

/* One pass of the channel-quad loop over the pixel context cx (see DW_CX_*): from cx[DW_CX_G0] to
 * cx[DW_CX_END] in steps of 4 channels, constants from w (per group, see dsp_pack in depthwise_conv.h);
 * returns w advanced past the groups it ran. Out of line: one copy of the asm serves the quads and the
 * tail. Fixed registers (LDM loads ascending registers): r0..r3 accumulators, r4 cx, r5 g, r6 w. The pack's
 * words are read by few loads: acc_init with the first pair's weights, the shifts' word with 2 multipliers,
 * then the other 2. */
static const int32_t *__attribute__((noinline)) dw_dsp_loop(uintptr_t *cx, const int32_t *w) {
  register uintptr_t *tp __asm__("r4") = cx;
  register const int32_t *wp __asm__("r6") = w;
  register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");
  register int32_t g __asm__("r5");
  register int32_t t8 __asm__("r8"), t9 __asm__("r9"), t10 __asm__("r10"), t11 __asm__("r11");
  register int32_t t12 __asm__("r12"), t14 __asm__("lr");
  __asm__ volatile(
      "ldr r5, [r4, #60]\n"
      "1:\n\t"
      "ldm r6!, {r0, r1, r2, r3, r11, r12}\n\t"
      DW_PAIR(0, "") DW_PAIR(1, DW_WLOAD) DW_PAIR(2, DW_WLOAD) DW_PAIR(3, DW_WLOAD)
      /* tap 8: channels in lanes, (c0, c2) and (c1, c3); lr = k = 2 * output_offset + 1 */
      "ldrd r8, lr, [r4, #44]\n\t"
      "ldr r9, [r8, r5]\n\t"
      "ldr r11, [r6], #4\n\t"
      "sxtb16 r10, r9\n\t"
      "sxtb16 r9, r9, ror #8\n\t"
      "sxtb16 r12, r11\n\t"
      "sxtb16 r11, r11, ror #8\n\t"
      "smlabb r0, r10, r12, r0\n\t"
      "smlatt r2, r10, r12, r2\n\t"
      "smlabb r1, r9, r11, r1\n\t"
      "smlatt r3, r9, r11, r3\n\t"
      /* requantize, per channel (see dsp_pack): ssat8(((smmlar(acc, m2, acc - (acc < 0)) >> (e - 1)) + k) >> 1),
       * e - 1 the bytes of one word (a register-held shift reads the register's low byte) */
      "ldm r6!, {r9, r10, r11}\n\t"
      "add r12, r0, r0, asr #31\n\t"
      "smmlar r0, r0, r10, r12\n\t"
      "asr r0, r0, r9\n\t"
      "add r0, r0, lr\n\t"
      "ssat r0, #8, r0, asr #1\n\t"
      "lsr r9, r9, #8\n\t"
      "add r12, r1, r1, asr #31\n\t"
      "smmlar r1, r1, r11, r12\n\t"
      "asr r1, r1, r9\n\t"
      "add r1, r1, lr\n\t"
      "ssat r1, #8, r1, asr #1\n\t"
      "ldrd r10, r11, [r6], #8\n\t"
      "lsr r9, r9, #8\n\t"
      "add r12, r2, r2, asr #31\n\t"
      "smmlar r2, r2, r10, r12\n\t"
      "asr r2, r2, r9\n\t"
      "add r2, r2, lr\n\t"
      "ssat r2, #8, r2, asr #1\n\t"
      "lsr r9, r9, #8\n\t"
      "add r12, r3, r3, asr #31\n\t"
      "smmlar r3, r3, r11, r12\n\t"
      "asr r3, r3, r9\n\t"
      "add r3, r3, lr\n\t"
      "ssat r3, #8, r3, asr #1\n\t"
      "bfi r0, r1, #8, #8\n\t"
      "bfi r0, r2, #16, #8\n\t"
      "bfi r0, r3, #24, #8\n\t"
      "ldm r4, {r1, r2, r3}\n\t" /* clamp?, y - o, o + c */
      "cbz r1, 2f\n\t"
      /* bytewise a0 = min(max(a0, lo4), hi4) */
      "ldrd r8, r9, [r4, #52]\n\t"
      "ssub8 r1, r0, r8\n\t"
      "sel r0, r0, r8\n\t"
      "ssub8 r1, r0, r9\n\t"
      "sel r0, r9, r0\n"
      "2:\n\t"
      "str r0, [r2, r5]\n\t"
      "adds r5, r5, #4\n\t" /* the 16-bit encoding; cmp sets the flags again */
      "cmp r5, r3\n\t"
      "blo 1b"
      : "=&r"(a0), "=&r"(a1), "=&r"(a2), "=&r"(a3), "+r"(wp), "=&r"(g), "=&r"(t8), "=&r"(t9), "=&r"(t10),
        "=&r"(t11), "=&r"(t12), "=&r"(t14)
      : "r"(tp)
      : "cc", "memory");
  return wp;
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
  for (t = 0; t < (c + 3) >> 2; ++t) zbuf[t] = zp4; /* the loop reads at most c bytes (rounded up) of it */
  for (ky = 0, t = DW_CX_T0; ky < 3; ++ky) {
    for (kx = 0; kx < 3; ++kx) cxi[t++] = (uintptr_t)(ky * dh * x_row + kx * dw * c);
  }
  cxi[DW_CX_K] = cxb[DW_CX_K] = (uintptr_t)(2 * p->rq.output_offset + 1);
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
          for (ky = 0, t = DW_CX_T0; ky < 3; ++ky) {
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

#if EDGEQ_DSP
void edgeq_depthwise_conv_s8_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  dw_dsp(p, in, out);
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
/* dsp_pack (see depthwise_conv.h) built from dsp_pack_s4 and weights_s4 into pack: the weight words hold
 * the int4 values as int8 bytes, in the pack's tap-pair order. */
static void dw_build_pack_s4(const edgeq_depthwise_conv_s8_params *p, int32_t *pack) {
  const int32_t out_c = p->out_c, taps = p->k_h * p->k_w, groups = (out_c + 3) >> 2;
  const int32_t *src = p->dsp_pack_s4;
  int32_t g, t, j, k;
  for (g = 0; g < groups; ++g, src += EDGEQ_DW_DSP_GROUP_WORDS - 9) {
    uint8_t b[9][4];
    for (t = 0; t < taps; ++t) {
      for (j = 0; j < 4; ++j) {
        const int32_t c = 4 * g + j;
        int8_t v = 0;
        if (c < out_c) edgeq_unpack_s4(p->weights_s4, t * out_c + c, 1, &v);
        b[t][j] = (uint8_t)v;
      }
    }
    for (j = 0; j < 4; ++j) *pack++ = src[j];
    for (t = 0; t + 1 < taps; t += 2) {
      for (k = 0; k < 4; k += 2)
        *pack++ = (int32_t)((uint32_t)b[t][k] | (uint32_t)b[t][k + 1] << 8 | (uint32_t)b[t + 1][k] << 16 |
                            (uint32_t)b[t + 1][k + 1] << 24);
    }
    *pack++ = (int32_t)((uint32_t)b[8][0] | (uint32_t)b[8][1] << 8 | (uint32_t)b[8][2] << 16 | (uint32_t)b[8][3] << 24);
    for (j = 4; j < EDGEQ_DW_DSP_GROUP_WORDS - 9; ++j) *pack++ = src[j]; /* shifts, multipliers */
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
