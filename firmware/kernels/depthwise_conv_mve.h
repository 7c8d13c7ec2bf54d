/* edgeq: DEPTHWISE_CONV_2D's Helium body, included by depthwise_conv.c: edgeq_depthwise_conv_s8 takes it on
 * cores with MVE (EDGEQ_MVE) when the lowering (--cpu mve) gives it mve_pack (depth multiplier 1, acc_init;
 * edgeq/passes/lower/int8/depthwise_conv.py _dw_mve_pack), per group of 16 channels (the last one padded with
 * zero channels), int32 words:
 *   the group's 16 weight bytes of every tap (ky, kx), in raster order;
 *   for each j < 4, of the group's channels j, j + 4, j + 8, j + 12 (the lanes of accumulator a_j below):
 *   acc_init (bias + input_offset * sum w), multipliers, left shifts max(shift, 0), right shifts min(shift, 0);
 * then, after the last group, a row of c16 input zero points (the taps outside the input of a clipped 3x3 window
 * read it, at their channels' offset).
 *
 * Sixteen channels per step, in the int8 lanes of one vector: per tap VMULLB.S8 / VMULLT.S8 give the products
 * of the even and the odd channels as int16 lanes, widened (VMOVLB / VMOVLT.S16) into four int32
 * accumulators a_0..a_3 holding channels {0,4,8,12}, {1,5,9,13}, {2,6,10,14}, {3,7,11,15} of the step (a 3x3
 * window's sixteen full lanes in assembly, two taps' products added in int16 before they are widened,
 * dw_mve_taps33, and for a clipped one dw_mve_taps33p through a table of tap addresses; other windows through
 * intrinsics). Every
 * window is computed as a full one: acc = acc_init + sum over all taps of x * w, where a tap outside the input
 * takes the input zero point for x (x + input_offset = 0 there, so the sum is the reference's
 * bias + sum over the valid taps of (x + input_offset) * w). Each accumulator is requantized with its lanes'
 * constants (edgeq_mve_requant_lr's sequence: exact gemmlowp double rounding) plus the output offset; two
 * rounds of saturating VQMOVNB / VQMOVNT narrow them back to 16 bytes in channel order (a_0, a_2 into the
 * even channels' int16 lanes, a_1, a_3 the odd ones'; saturating to int8 then clamping to the activation
 * range, which lies within int8, is the reference's clamp), stored; the last out_c % 16 channels under a
 * predicate (inactive lanes neither load nor store). Pixels go in raster order, each one's window read group
 * by group before that group is written (the raster overlap contract of geometry.raster_overlap_margin). */
#ifndef EDGEQ_DEPTHWISE_CONV_MVE_H
#define EDGEQ_DEPTHWISE_CONV_MVE_H
#include "depthwise_conv.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* The four accumulators of one step of sixteen channels (lanes: channels j, j + 4, j + 8, j + 12 in a_j). */
typedef struct {
  int32x4_t a0, a1, a2, a3;
} dw_mve_acc;

/* s += the int16 products pe (even channels) and po (odd channels), widened */
EDGEQ_INLINE dw_mve_acc dw_mve_add(dw_mve_acc s, int16x8_t pe, int16x8_t po) {
  s.a0 = vaddq_s32(s.a0, vmovlbq_s16(pe));
  s.a2 = vaddq_s32(s.a2, vmovltq_s16(pe));
  s.a1 = vaddq_s32(s.a1, vmovlbq_s16(po));
  s.a3 = vaddq_s32(s.a3, vmovltq_s16(po));
  return s;
}

/* s += x * w (one tap: the int8 products as int16 lanes, widened) */
EDGEQ_INLINE dw_mve_acc dw_mve_one(dw_mve_acc s, int8x16_t x, int8x16_t w) {
  return dw_mve_add(s, vmullbq_int_s8(x, w), vmulltq_int_s8(x, w));
}

/* The output stage of one step (the constants at t, in the pack's order; returns t past them): per a_j,
 * acc_init added, edgeq_mve_requant_lr's sequence with its lanes' multipliers and shifts, the output offset;
 * VQMOVNB / VQMOVNT narrow a_0, a_2 into the even channels' int16 lanes and a_1, a_3 into the odd ones', then
 * both into the 16 bytes in channel order (saturating to int8, then clamping to the activation range, which
 * lies within int8: the reference's clamp); stored at y (PRED: the lanes of pr only). In assembly: GCC spills
 * the accumulators of the intrinsics version. */
#define DW_MVE_RQ(a)                    \
  "vldrw.32 q4, [%[t]], #16\n\t"        \
  "vadd.i32 " a ", " a ", q4\n\t"      \
  "vldrw.32 q4, [%[t]], #16\n\t"        \
  "vldrw.32 q5, [%[t]], #16\n\t"        \
  "vldrw.32 q6, [%[t]], #16\n\t"        \
  "vshl.s32 " a ", " a ", q5\n\t"      \
  "vqrdmulh.s32 " a ", " a ", q4\n\t"  \
  "vand q7, " a ", q6\n\t"             \
  "vshr.s32 q7, q7, #31\n\t"           \
  "vqadd.s32 " a ", " a ", q7\n\t"     \
  "vrshl.s32 " a ", " a ", q6\n\t"     \
  "vadd.i32 " a ", " a ", %[oo]\n\t"
#define DW_MVE_OUT_ASM(store)                                                                            \
  __asm__ volatile(DW_MVE_RQ("%q[a0]") DW_MVE_RQ("%q[a1]") DW_MVE_RQ("%q[a2]") DW_MVE_RQ("%q[a3]")        \
                   "vqmovnb.s32 q4, %q[a0]\n\t"                                                          \
                   "vqmovnt.s32 q4, %q[a2]\n\t"                                                          \
                   "vqmovnb.s32 q5, %q[a1]\n\t"                                                          \
                   "vqmovnt.s32 q5, %q[a3]\n\t"                                                          \
                   "vqmovnb.s16 q6, q4\n\t"                                                              \
                   "vqmovnt.s16 q6, q5\n\t"                                                              \
                   "vdup.8 q7, %[lo]\n\t"                                                                \
                   "vmax.s8 q6, q6, q7\n\t"                                                              \
                   "vdup.8 q7, %[hi]\n\t"                                                                \
                   "vmin.s8 q6, q6, q7\n\t" store                                                        \
                   : [t] "+r"(t), [a0] "+w"(s.a0), [a1] "+w"(s.a1), [a2] "+w"(s.a2), [a3] "+w"(s.a3)     \
                   : [oo] "r"(oo), [lo] "r"(lo), [hi] "r"(hi), [y] "r"(y), [pr] "r"((uint32_t)pr)          \
                   : "q4", "q5", "q6", "q7", "memory")
EDGEQ_INLINE const int8_t *dw_mve_out(dw_mve_acc s, const int8_t *w, int32_t oo, int32_t lo, int32_t hi, int8_t *y,
                                      int PRED, mve_pred16_t pr) {
  const int32_t *t = (const int32_t *)(const void *)w;
  if (PRED)
    DW_MVE_OUT_ASM("vmsr p0, %[pr]\n\tvpst\n\tvstrbt.8 q6, [%[y]]\n");
  else
    DW_MVE_OUT_ASM("vstrb.8 q6, [%[y]]\n");
  return (const int8_t *)(const void *)t;
}
#undef DW_MVE_OUT_ASM
#undef DW_MVE_RQ

#define DW_MVE_LD(ptr) (PRED ? vldrbq_z_s8((ptr), pr) : vld1q_s8(ptr))

/* s += the window's taps (tap (ky, kx) at x + ky * xs_row + kx * xs_col) times their weights, read from *wp in
 * raster order (*wp is left past them). Called with constant k_h, k_w where it matters (unrolled). */
EDGEQ_INLINE dw_mve_acc dw_mve_taps(dw_mve_acc s, const int8_t *x, const int8_t **wp, int32_t k_h, int32_t k_w,
                                    int32_t xs_row, int32_t xs_col, int PRED, mve_pred16_t pr) {
  const int8_t *w = *wp;
  int32_t ky, kx;
  for (ky = 0; ky < k_h; ++ky, x += xs_row) {
    const int8_t *xr = x;
    for (kx = 0; kx < k_w; ++kx, xr += xs_col, w += 16) s = dw_mve_one(s, DW_MVE_LD(xr), vld1q_s8(w));
  }
  *wp = w;
  return s;
}

/* dw_mve_taps for a clipped window: the taps outside the input (rows outside [ky0, ky1), columns outside
 * [kx0, kx1)) take the input zero point zp for x; row ky of the input starts at img_c + (iy0 + ky * dh) * x_row,
 * tap kx of it (ix0 + kx * dw) * in_c further (img_c: the image at the step's first channel). */
EDGEQ_INLINE dw_mve_acc dw_mve_taps_clipped(const edgeq_depthwise_conv_s8_params *p, dw_mve_acc s, const int8_t *img_c,
                                            int32_t iy0, int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0,
                                            int32_t kx1, const int8_t **wp, int PRED, mve_pred16_t pr) {
  const int32_t k_h = p->k_h, k_w = p->k_w, in_c = p->in_c, x_row = p->in_w * in_c;
  const int8x16_t zp = vdupq_n_s8((int8_t)-p->input_offset);
  const int8_t *w = *wp;
  int32_t ky, kx;
  for (ky = 0; ky < k_h; ++ky) {
    if (ky < ky0 || ky >= ky1) {
      for (kx = 0; kx < k_w; ++kx, w += 16) s = dw_mve_one(s, zp, vld1q_s8(w));
    } else {
      const int8_t *xr = img_c + (size_t)(iy0 + ky * p->dilation_h) * (size_t)x_row;
      for (kx = 0; kx < kx0; ++kx, w += 16) s = dw_mve_one(s, zp, vld1q_s8(w));
      for (; kx < kx1; ++kx, w += 16)
        s = dw_mve_one(s, DW_MVE_LD(xr + (size_t)(ix0 + kx * p->dilation_w) * (size_t)in_c), vld1q_s8(w));
      for (; kx < k_w; ++kx, w += 16) s = dw_mve_one(s, zp, vld1q_s8(w));
    }
  }
  *wp = w;
  return s;
}

/* The 3x3 window's nine taps, all sixteen lanes, in assembly (the intrinsics' loops cost a third more), in pairs:
 * the int16 products of two taps (VMULLB / VMULLT.S8) are added in int16 before they are widened, which cannot
 * overflow because no weight is -128 (|x * w| <= 128 * 127, two of them <= 32,512; _dw_mve_pack gives no pack
 * otherwise). The first pair sets the accumulators (VMOVLB / VMOVLT.S16), the others and the ninth tap add to
 * them. A tap's address is made by `setup` into the register named by `addr`. */
#define DW_MVE_PRODUCTS(setup, addr)             \
  setup "vldrb.8 q4, [" addr "]\n\t"             \
  "vldrb.8 q5, [%[w]], #16\n\t"                  \
  "vmullb.s8 q6, q4, q5\n\t"                     \
  "vmullt.s8 q7, q4, q5\n\t"
#define DW_MVE_PAIR_PRODUCTS(s0, a0, s1, a1)     \
  DW_MVE_PRODUCTS(s0, a0)                        \
  s1 "vldrb.8 q4, [" a1 "]\n\t"                  \
  "vldrb.8 q5, [%[w]], #16\n\t"                  \
  "vmullb.s8 q5, q4, q5\n\t"                     \
  "vadd.i16 q6, q6, q5\n\t"                      \
  "vldrb.8 q5, [%[w], #-16]\n\t"                 \
  "vmullt.s8 q4, q4, q5\n\t"                     \
  "vadd.i16 q7, q7, q4\n\t"
#define DW_MVE_SET                               \
  "vmovlb.s16 %q[a0], q6\n\t"                    \
  "vmovlt.s16 %q[a2], q6\n\t"                    \
  "vmovlb.s16 %q[a1], q7\n\t"                    \
  "vmovlt.s16 %q[a3], q7\n\t"
#define DW_MVE_ADD                               \
  "vmovlb.s16 q4, q6\n\t"                        \
  "vadd.i32 %q[a0], %q[a0], q4\n\t"              \
  "vmovlt.s16 q4, q6\n\t"                        \
  "vadd.i32 %q[a2], %q[a2], q4\n\t"              \
  "vmovlb.s16 q4, q7\n\t"                        \
  "vadd.i32 %q[a1], %q[a1], q4\n\t"              \
  "vmovlt.s16 q4, q7\n\t"                        \
  "vadd.i32 %q[a3], %q[a3], q4\n\t"
/* taps in raster order, (ky, kx) at x + ky * xs_row + kx * xs_col: %[t] walks a row from %[x], which steps rows */
#define DW_MVE_T00 "", "%[x]"
#define DW_MVE_T01 "add %[t], %[x], %[c]\n\t", "%[t]"
#define DW_MVE_T02 "add %[t], %[t], %[c]\n\t", "%[t]"
#define DW_MVE_T10 "add %[x], %[x], %[r]\n\t", "%[x]"
/* (the tap macros expand to a setup and an address: these take them as two arguments) */
#define DW_MVE_PAIRS(...) DW_MVE_PAIR_PRODUCTS(__VA_ARGS__)
#define DW_MVE_ONE(...) DW_MVE_PRODUCTS(__VA_ARGS__)
EDGEQ_INLINE dw_mve_acc dw_mve_taps33(const int8_t *x, const int8_t **wp, int32_t xs_row, int32_t xs_col) {
  const int8_t *w = *wp, *t;
  dw_mve_acc s;
  __asm__ volatile(DW_MVE_PAIRS(DW_MVE_T00, DW_MVE_T01) DW_MVE_SET
                   DW_MVE_PAIRS(DW_MVE_T02, DW_MVE_T10) DW_MVE_ADD
                   DW_MVE_PAIRS(DW_MVE_T01, DW_MVE_T02) DW_MVE_ADD
                   DW_MVE_PAIRS(DW_MVE_T10, DW_MVE_T01) DW_MVE_ADD
                   DW_MVE_ONE(DW_MVE_T02) DW_MVE_ADD
                   : [x] "+r"(x), [w] "+r"(w), [t] "=&r"(t), [a0] "=&w"(s.a0), [a1] "=&w"(s.a1), [a2] "=&w"(s.a2),
                     [a3] "=&w"(s.a3)
                   : [r] "r"(xs_row), [c] "r"(xs_col)
                   : "q4", "q5", "q6", "q7", "memory");
  *wp = w;
  return s;
}

/* dw_mve_taps33 for a clipped 3x3 window: tap k's sixteen bytes at tp[k] + c, where tp[k] is the tap's pixel in
 * the input or, for a tap outside it, the pack's row of input zero points (so that every tap costs what an
 * inside one does). */
#define DW_MVE_TP(k) "ldr %[t], [%[tp], #" #k "]\n\tadd %[t], %[t], %[c]\n\t", "%[t]"
EDGEQ_INLINE dw_mve_acc dw_mve_taps33p(const int8_t *const *tp, int32_t c, const int8_t **wp) {
  const int8_t *w = *wp, *t;
  dw_mve_acc s;
  __asm__ volatile(DW_MVE_PAIRS(DW_MVE_TP(0), DW_MVE_TP(4)) DW_MVE_SET
                   DW_MVE_PAIRS(DW_MVE_TP(8), DW_MVE_TP(12)) DW_MVE_ADD
                   DW_MVE_PAIRS(DW_MVE_TP(16), DW_MVE_TP(20)) DW_MVE_ADD
                   DW_MVE_PAIRS(DW_MVE_TP(24), DW_MVE_TP(28)) DW_MVE_ADD
                   DW_MVE_ONE(DW_MVE_TP(32)) DW_MVE_ADD
                   : [w] "+r"(w), [t] "=&r"(t), [a0] "=&w"(s.a0), [a1] "=&w"(s.a1), [a2] "=&w"(s.a2),
                     [a3] "=&w"(s.a3)
                   : [tp] "r"(tp), [c] "r"(c)
                   : "q4", "q5", "q6", "q7", "memory");
  *wp = w;
  return s;
}
#undef DW_MVE_TP
#undef DW_MVE_ONE
#undef DW_MVE_PAIRS
#undef DW_MVE_T10
#undef DW_MVE_T02
#undef DW_MVE_T01
#undef DW_MVE_T00
#undef DW_MVE_ADD
#undef DW_MVE_SET
#undef DW_MVE_PAIR_PRODUCTS
#undef DW_MVE_PRODUCTS

/* Sixteen channels c..c+15 of one output pixel (PRED: the first n under predicate pr) from a full window at x,
 * their part of the pack at *wp (left at the next group's). */
EDGEQ_INLINE void dw_mve_step(const edgeq_depthwise_conv_s8_params *p, const int8_t *x, const int8_t **wp,
                              int32_t xs_row, int32_t xs_col, int8_t *y, int PRED, mve_pred16_t pr) {
  const int32_t k_h = p->k_h, k_w = p->k_w;
  dw_mve_acc s;
  if (k_h == 3 && k_w == 3 && !PRED) {
    s = dw_mve_taps33(x, wp, xs_row, xs_col);
  } else {
    s.a0 = s.a1 = s.a2 = s.a3 = vdupq_n_s32(0);
    s = dw_mve_taps(s, x, wp, k_h, k_w, xs_row, xs_col, PRED, pr);
  }
  *wp = dw_mve_out(s, *wp, p->rq.output_offset, p->rq.act_min, p->rq.act_max, y, PRED, pr);
}

/* dw_mve_step for a clipped window (dw_mve_taps_clipped) */
EDGEQ_INLINE void dw_mve_step_clipped(const edgeq_depthwise_conv_s8_params *p, const int8_t *img_c, int32_t iy0,
                                      int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1,
                                      const int8_t **wp, int8_t *y, int PRED, mve_pred16_t pr) {
  dw_mve_acc s;
  s.a0 = s.a1 = s.a2 = s.a3 = vdupq_n_s32(0);
  s = dw_mve_taps_clipped(p, s, img_c, iy0, ix0, ky0, ky1, kx0, kx1, wp, PRED, pr);
  *wp = dw_mve_out(s, *wp, p->rq.output_offset, p->rq.act_min, p->rq.act_max, y, PRED, pr);
}

/* One row of output pixels (input rows from iy0, the window's rows ky0..ky1 inside the input), all channels of
 * each (dw_mve_step, or for a window that is not inside the input dw_mve_taps33p or dw_mve_step_clipped), the pack
 * walked group by group; returns y past the row. Out of line, once per row: its set-up is paid per row. */
static EDGEQ_NOINLINE int8_t *dw_mve_row(const edgeq_depthwise_conv_s8_params *p, const int8_t *img, int32_t iy0,
                                         int32_t ky0, int32_t ky1, int8_t *y) {
  const int32_t out_c = p->out_c, main16 = out_c & ~15, in_c = p->in_c, k_h = p->k_h, k_w = p->k_w;
  const int32_t xs_row = p->dilation_h * p->in_w * in_c, xs_col = p->dilation_w * in_c;
  int32_t ox;
  for (ox = 0; ox < p->out_w; ++ox, y += out_c) {
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    const int8_t *wp = (const int8_t *)(const void *)p->mve_pack;
    int32_t c, kx0, kx1;
    edgeq_tap_range(ix0, p->dilation_w, k_w, p->in_w, &kx0, &kx1);
    if (ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w) {
      const int8_t *x = img + (size_t)iy0 * (size_t)(p->in_w * in_c) + (size_t)ix0 * (size_t)in_c;
      for (c = 0; c < main16; c += 16) dw_mve_step(p, x + c, &wp, xs_row, xs_col, y + c, 0, 0);
      if (c < out_c)
        dw_mve_step(p, x + c, &wp, xs_row, xs_col, y + c, 1, vctp8q((uint32_t)(out_c - c)));
    } else if (k_h == 3 && k_w == 3) { /* the taps' addresses once per pixel, the zero-point row for those outside */
      const int8_t *tp[9];
      const int8_t *zrow = (const int8_t *)(const void *)(p->mve_pack + ((out_c + 15) >> 4) * (9 * 4 + 64));
      const int8_t *row = img + ((ptrdiff_t)(iy0 + ky0 * p->dilation_h) * (p->in_w * in_c) +
                                 (ptrdiff_t)(ix0 + kx0 * p->dilation_w) * in_c); /* tap (ky0, kx0) */
      int32_t ky, kx;
      for (c = 0; c < 9; ++c) tp[c] = zrow;
      for (ky = ky0; ky < ky1; ++ky, row += xs_row)
        for (kx = kx0; kx < kx1; ++kx) tp[ky * 3 + kx] = row + (kx - kx0) * xs_col;
      for (c = 0; c < main16; c += 16) {
        const dw_mve_acc s = dw_mve_taps33p(tp, c, &wp);
        wp = dw_mve_out(s, wp, p->rq.output_offset, p->rq.act_min, p->rq.act_max, y + c, 0, 0);
      }
      if (c < out_c)
        dw_mve_step_clipped(p, img + c, iy0, ix0, ky0, ky1, kx0, kx1, &wp, y + c, 1, vctp8q((uint32_t)(out_c - c)));
    } else {
      for (c = 0; c < main16; c += 16)
        dw_mve_step_clipped(p, img + c, iy0, ix0, ky0, ky1, kx0, kx1, &wp, y + c, 0, 0);
      if (c < out_c)
        dw_mve_step_clipped(p, img + c, iy0, ix0, ky0, ky1, kx0, kx1, &wp, y + c, 1, vctp8q((uint32_t)(out_c - c)));
    }
  }
  return y;
}
#undef DW_MVE_LD

static int dw_mve(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_h = p->in_h, in_w = p->in_w;
  int32_t b, oy;
  int8_t *y = out;
  if (p->mve_pack == NULL) return 0;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)p->in_c;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, p->dilation_h, p->k_h, in_h, &ky0, &ky1);
      y = dw_mve_row(p, img, iy0, ky0, ky1, y);
    }
  }
  return 1;
}
#endif

#endif /* EDGEQ_DEPTHWISE_CONV_MVE_H */
