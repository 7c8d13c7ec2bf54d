/* edgeq: CONV_2D's Helium body, included by conv.c: edgeq_conv_s8_im2col takes it on cores with MVE
 * (EDGEQ_MVE), where the lowering (--cpu mve, groups 1, no dilation, double rounding) gives it, instead of the
 * plain filter, the layout below, a scratch of 2 * k16 = 4 * k_pad bytes and no DSP pack (wq = NULL). Only the
 * lowering's configurations reach it: it has no fallback (`weights` is not in the portable kernel's order).
 *
 *   weights: per group of four output channels (out_c rounded up to a multiple of 4 with zero channels) and
 *            per block of 16 of the K = k_h * k_w * in_c window bytes (zero-padded to k16 = 2 * k_pad, a
 *            multiple of 16), the block of each of the four channels: [group][K block][4][16] (the layout
 *            edgeq_mve_dot4x2 walks with one pointer);
 *   dsp_rq:  per group, 16 words: acc_init (bias + input_offset * sum w) of the four channels, their
 *            multipliers, left shifts max(shift, 0) and right shifts min(shift, 0) (zero for padded channels).
 *
 * Output pixels are taken two at a time in raster order (across rows and batches; an odd last pixel is paired
 * with itself). Both windows are gathered into scratch, one after the other, as K contiguous bytes each (im2col,
 * in the weights' order; taps outside the input hold the input zero point, so that x + input_offset = 0 there;
 * the bytes up to k16 are left as they are: their weights are zero), a window inside the input as k_h
 * tail-predicated runs. Both windows are read before either output pixel is written (the raster overlap
 * contract of geometry.raster_overlap_margin, as the DSP path's pixel pairs). Then per group of four channels
 * the steps of edgeq_mve_dot4x2 (VMLADAVA.S8, one input vector per pixel shared by four weight vectors) give both
 * pixels' sums; acc = acc_init + sum x * w is the reference's bias + sum (x + input_offset) * w (integer addition
 * is associative), requantized four lanes at a time (edgeq_mve_requant_lr's sequence, exact gemmlowp double
 * rounding), clamped and stored as 4 bytes: the whole groups in one assembly loop (conv_mve_groups), a padded
 * group in C under a predicate. */
#ifndef EDGEQ_CONV_MVE_H
#define EDGEQ_CONV_MVE_H
#include "conv.h"
#include "edgeq_mve.h"

#if EDGEQ_MVE
/* The first `left` (<= 4) channels of a group of four of two pixels: requantized, clamped and stored under a
 * predicate (the last, partial group; conv_mve_groups does the whole ones but at -O0). */
EDGEQ_INLINE void conv_mve_out4(int32x4_t u, int32x4_t v, const int32_t *t, int32x4_t oo, int32x4_t lo,
                                int32x4_t hi, int8_t *y0, int8_t *y1, int32_t left) {
  const int32x4_t init = vld1q_s32(t), m = vld1q_s32(t + 4), l = vld1q_s32(t + 8), r = vld1q_s32(t + 12);
  const mve_pred16_t pr = vctp32q((uint32_t)left);
  u = vminq_s32(vmaxq_s32(vaddq_s32(edgeq_mve_requant_lr(vaddq_s32(u, init), m, l, r), oo), lo), hi);
  v = vminq_s32(vmaxq_s32(vaddq_s32(edgeq_mve_requant_lr(vaddq_s32(v, init), m, l, r), oo), lo), hi);
  vstrbq_p_s32(y0, u, pr);
  vstrbq_p_s32(y1, v, pr);
}

/* conv_mve_pair's whole groups of four channels (groups > 0) in one assembly loop. The dot steps hold twelve core
 * registers (eight accumulators, two window pointers, the weights, the count); the table pointer, the output
 * pointer, k16, the distance y1 - y0 and the table's end stay in memory, read when the accumulators are free
 * (with fewer registers left, GCC at -O1 / -Og / -Os finds no allocation). Per group
 * edgeq_mve_dot4x2's steps (eight VMLADAV(A).S8 into scalars), then conv_mve_out4's output stage on the two
 * pixels' vectors (edgeq_mve_requant_lr's sequence, output offset, clamp, 4 bytes each: VSTRB.32 takes a low
 * register, hence the "l" constraint). *wp, *tp and *yp are left at the next group's weights, table and output
 * bytes. */
#define CONV_MVE_STEP(op) EDGEQ_MVE_DOT4X2_STEP(op) /* edgeq_mve.h */
EDGEQ_INLINE void conv_mve_groups(const int8_t *x, int32_t k16, const int8_t **wp, const int32_t **tp,
                                  const int32_t *t_end, int8_t **yp, int32_t ystep, int32x4_t oo, int32x4_t lo,
                                  int32x4_t hi) {
  const int8_t *x0 = x, *x1 = x + k16, *w = *wp;
  const int32_t *t = *tp;
  int8_t *y = *yp;
  int32_t n, a0, a1, a2, a3, b0, b1, b2, b3;
  __asm__ volatile(
      "1:\n\t"
      "ldr %[n], %[k16]\n\t"
      CONV_MVE_STEP("vmladav.s8")
      "beq 3f\n"
      "2:\n\t"
      CONV_MVE_STEP("vmladava.s8")
      "bne 2b\n"
      "3:\n\t"
      "vmov q3[2], q3[0], %[a0], %[a2]\n\t"
      "vmov q3[3], q3[1], %[a1], %[a3]\n\t"
      "vmov q4[2], q4[0], %[b0], %[b2]\n\t"
      "vmov q4[3], q4[1], %[b1], %[b3]\n\t"
      "ldr %[a0], %[k16]\n\t"
      "sub %[x0], %[x0], %[a0]\n\t"
      "sub %[x1], %[x1], %[a0]\n\t"
      "ldr %[a0], %[t]\n\t"
      "vldrw.32 q0, [%[a0]], #16\n\t"
      "vadd.i32 q3, q3, q0\n\t"
      "vadd.i32 q4, q4, q0\n\t"
      "vldrw.32 q1, [%[a0]], #16\n\t"
      "vldrw.32 q0, [%[a0]], #16\n\t"
      "vshl.s32 q3, q3, q0\n\t"
      "vshl.s32 q4, q4, q0\n\t"
      "vqrdmulh.s32 q3, q3, q1\n\t"
      "vqrdmulh.s32 q4, q4, q1\n\t"
      "vldrw.32 q0, [%[a0]], #16\n\t"
      "vand q1, q3, q0\n\t"
      "vshr.s32 q1, q1, #31\n\t"
      "vqadd.s32 q3, q3, q1\n\t"
      "vand q1, q4, q0\n\t"
      "vshr.s32 q1, q1, #31\n\t"
      "vqadd.s32 q4, q4, q1\n\t"
      "vrshl.s32 q3, q3, q0\n\t"
      "vrshl.s32 q4, q4, q0\n\t"
      "vadd.i32 q3, q3, %q[oo]\n\t"
      "vadd.i32 q4, q4, %q[oo]\n\t"
      "vmax.s32 q3, q3, %q[lo]\n\t"
      "vmax.s32 q4, q4, %q[lo]\n\t"
      "vmin.s32 q3, q3, %q[hi]\n\t"
      "vmin.s32 q4, q4, %q[hi]\n\t"
      "ldr %[n], %[y]\n\t"
      "vstrb.32 q3, [%[n]], #4\n\t"
      "str %[n], %[y]\n\t"
      "ldr %[a1], %[ystep]\n\t"
      "add %[n], %[n], %[a1]\n\t"
      "vstrb.32 q4, [%[n], #-4]\n\t"
      "str %[a0], %[t]\n\t"
      "ldr %[a1], %[tend]\n\t"
      "cmp %[a0], %[a1]\n\t"
      "bne 1b\n"
      : [x0] "+r"(x0), [x1] "+r"(x1), [w] "+r"(w), [t] "+m"(t), [y] "+m"(y), [n] "=&l"(n), [a0] "=&Te"(a0),
        [a1] "=&Te"(a1), [a2] "=&Te"(a2), [a3] "=&Te"(a3), [b0] "=&Te"(b0), [b1] "=&Te"(b1), [b2] "=&Te"(b2),
        [b3] "=&Te"(b3)
      : [k16] "m"(k16), [ystep] "m"(ystep), [tend] "m"(t_end), [oo] "w"(oo), [lo] "w"(lo), [hi] "w"(hi)
      : "q0", "q1", "q2", "q3", "q4", "cc", "memory");
  *wp = w;
  *tp = t;
  *yp = y;
}
#undef CONV_MVE_STEP

/* All output channels of two pixels from their windows x[0..k16) and x[k16..2 k16), written to y0 and y1
 * (y1 = y0 + out_c, or y0 for an odd last pixel): the whole groups of four (conv_mve_groups), then a partial one
 * under a predicate. Out of line, so its registers (the dot loop's eight accumulators) are allocated apart from
 * the pixel loop's. */
static EDGEQ_NOINLINE void conv_mve_pair(const edgeq_conv_s8_params *p, const int8_t *x, int32_t k16, int8_t *y0,
                                         int8_t *y1) {
  const int32x4_t oo = vdupq_n_s32(p->rq.output_offset);
  const int32x4_t lo = vdupq_n_s32(p->rq.act_min), hi = vdupq_n_s32(p->rq.act_max);
  const int8_t *w = p->weights;
  const int32_t *t = p->dsp_rq;
  const int32_t out_c = p->out_c, full = out_c & ~3, ystep = (int32_t)(y1 - y0);
  int32x4_t u, v;
#if defined(__OPTIMIZE__)
  if (full > 0) conv_mve_groups(x, k16, &w, &t, t + 4 * full, &y0, ystep, oo, lo, hi);
#else /* -O0: GCC cannot give conv_mve_groups' assembly its twelve core registers */
  int32_t c;
  for (c = 0; c < full; c += 4, t += 16, y0 += 4, y1 += 4) {
    w = edgeq_mve_dot4x2(x, w, k16, &u, &v);
    conv_mve_out4(u, v, t, oo, lo, hi, y0, y1, 4);
  }
#endif
  if (full < out_c) {
    edgeq_mve_dot4x2(x, w, k16, &u, &v);
    conv_mve_out4(u, v, t, oo, lo, hi, y0, y0 + ystep, out_c - full);
  }
}

/* rows > 0 runs of n >= 0 bytes, x_row apart from x, to dst one after the other: per run a tail-predicated
 * low-overhead loop (WLSTP.8 / LETP: the last step's inactive lanes neither load nor store) of 16 bytes per step,
 * whose post-increments take both pointers to the next multiple of 16, set back by the difference. */
EDGEQ_INLINE void conv_mve_copy_rows(int8_t *dst, const int8_t *x, int32_t rows, int32_t n, int32_t x_row) {
  const int32_t over = ((n + 15) & ~15) - n, skip = x_row - n - over;
  __asm__ volatile(
      "1:\n\t"
      "wlstp.8 lr, %[n], 3f\n"
      "2:\n\t"
      "vldrb.8 q0, [%[x]], #16\n\t"
      "vstrb.8 q0, [%[d]], #16\n\t"
      "letp lr, 2b\n"
      "3:\n\t"
      "add %[x], %[x], %[skip]\n\t"
      "sub %[d], %[d], %[over]\n\t"
      "subs %[rows], %[rows], #1\n\t"
      "bne 1b\n"
      : [d] "+r"(dst), [x] "+r"(x), [rows] "+r"(rows)
      : [n] "r"(n), [skip] "r"(skip), [over] "r"(over)
      : "q0", "lr", "cc", "memory");
}

/* dst[0..n) = v (n >= 0), as conv_mve_copy_rows */
EDGEQ_INLINE void conv_mve_fill(int8_t *dst, int8x16_t v, int32_t n) {
  __asm__ volatile(
      "wlstp.8 lr, %[n], 3f\n"
      "2:\n\t"
      "vstrb.8 %q[v], [%[d]], #16\n\t"
      "letp lr, 2b\n"
      "3:\n"
      : [d] "+r"(dst)
      : [n] "r"(n), [v] "w"(v)
      : "lr", "memory");
}

/* The window of the output pixel whose top-left tap is (iy0, ix0) in image img, gathered into buf as K bytes
 * (a clipped window: conv_mve copies the ones inside the input itself). */
static void conv_mve_window(const edgeq_conv_s8_params *p, const int8_t *img, int32_t iy0, int32_t ix0,
                            int8_t *buf) {
  const int32_t in_c = p->in_c, k_h = p->k_h, k_w = p->k_w, w_row = k_w * in_c, x_row = p->in_w * in_c;
  const int8x16_t pad = vdupq_n_s8((int8_t)-p->input_offset);
  int32_t ky0, ky1, kx0, kx1, ky, before, run, after;
  int8_t *d = buf;
  edgeq_tap_range(iy0, 1, k_h, p->in_h, &ky0, &ky1);
  edgeq_tap_range(ix0, 1, k_w, p->in_w, &kx0, &kx1);
  before = kx0 * in_c;
  run = (kx1 - kx0) * in_c;
  after = w_row - before - run;
  conv_mve_fill(d, pad, ky0 * w_row);
  d += ky0 * w_row;
  for (ky = ky0; ky < ky1; ++ky, d += w_row) {
    conv_mve_fill(d, pad, before);
    conv_mve_copy_rows(d + before, img + (size_t)(iy0 + ky) * (size_t)x_row + (size_t)(ix0 + kx0) * (size_t)in_c, 1,
                       run, 0);
    conv_mve_fill(d + before + run, pad, after);
  }
  conv_mve_fill(d, pad, (k_h - ky1) * w_row);
}

static void conv_mve(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int8_t *buf) {
  const int32_t out_c = p->out_c, k16 = 2 * p->k_pad, in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, w_row = k_w * in_c, x_row = in_w * in_c;
  const size_t img_bytes = (size_t)p->in_h * (size_t)p->in_w * (size_t)p->in_c;
  int8_t *y0 = NULL, *y = out;
  int32_t b, oy, ox;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * img_bytes;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      for (ox = 0; ox < p->out_w; ++ox, y += out_c) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int8_t *d = y0 == NULL ? buf : buf + k16;
        if (iy0 >= 0 && iy0 + k_h <= in_h && ix0 >= 0 && ix0 + k_w <= in_w) { /* inside: k_h runs of w_row */
          conv_mve_copy_rows(d, img + (size_t)iy0 * (size_t)x_row + (size_t)ix0 * (size_t)in_c, k_h, w_row, x_row);
        } else {
          conv_mve_window(p, img, iy0, ix0, d);
        }
        if (y0 == NULL) {
          y0 = y;
        } else {
          conv_mve_pair(p, buf, k16, y0, y);
          y0 = NULL;
        }
      }
    }
  }
  if (y0 != NULL) { /* an odd last pixel: its window twice, both results stored to it */
    conv_mve_copy_rows(buf + k16, buf, 1, k16, 0);
    conv_mve_pair(p, buf, k16, y0, y0);
  }
}
#endif

#endif /* EDGEQ_CONV_MVE_H */
