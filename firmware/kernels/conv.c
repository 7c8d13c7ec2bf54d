#include "conv.h"
#include "edgeq_dsp.h"
#include "conv_mve.h"

/* sum x[i] * w[i] */
EDGEQ_INLINE int32_t conv_dot(const int8_t *x, const int8_t *w, int32_t n) {
  int32_t acc = 0, i;
  for (i = 0; i < n; ++i) acc += (int32_t)x[i] * (int32_t)w[i];
  return acc;
}

/* sum (x[i] + off) * w[i] */
EDGEQ_INLINE int32_t conv_dot_off(const int8_t *x, const int8_t *w, int32_t n, int32_t off) {
  int32_t acc = 0, i;
  for (i = 0; i < n; ++i) acc += ((int32_t)x[i] + off) * (int32_t)w[i];
  return acc;
}

/* One output pixel's window, loop-invariant values of a conv call (read once: stores through int8_t
 * pointers may alias the params). */
typedef struct {
  int32_t in_c, fin, dh, dw, x_row, w_row, off, merge_row;
} conv_geom;

EDGEQ_INLINE conv_geom conv_geom_of(const edgeq_conv_s8_params *p) {
  conv_geom c;
  c.in_c = p->in_c;
  c.fin = p->filter_in_c;
  c.dh = p->dilation_h;
  c.dw = p->dilation_w;
  c.x_row = p->in_w * p->in_c;
  c.w_row = p->k_w * p->filter_in_c;
  c.off = p->input_offset;
  /* With unit horizontal dilation and no groups, the taps kx0..kx1 of one kernel row are one
   * contiguous run in both the input row and the filter row. */
  c.merge_row = p->dilation_w == 1 && p->in_c == p->filter_in_c;
  return c;
}

/* acc plus the sum over the valid taps (ky0..ky1, kx0..kx1) of one output pixel's window for one output
 * channel whose filter row is wo: sum w * x when full (acc_init holds the input offset's share), else
 * sum w * (x + input_offset). xg: the pixel's batch image at its group's first input channel. */
EDGEQ_INLINE int32_t conv_window(const conv_geom c, int32_t acc, const int8_t *xg, const int8_t *wo, int32_t iy0,
                                 int32_t ix0, int32_t ky0, int32_t ky1, int32_t kx0, int32_t kx1, int32_t full) {
  int32_t ky, kx;
  for (ky = ky0; ky < ky1; ++ky) {
    const int8_t *xr = xg + (size_t)(iy0 + ky * c.dh) * (size_t)c.x_row;
    const int8_t *wr = wo + (size_t)ky * (size_t)c.w_row;
    if (c.merge_row) {
      const int8_t *x = xr + (size_t)(ix0 + kx0) * (size_t)c.in_c;
      const int8_t *w = wr + (size_t)kx0 * (size_t)c.fin;
      const int32_t n = (kx1 - kx0) * c.fin;
      acc += full ? conv_dot(x, w, n) : conv_dot_off(x, w, n, c.off);
    } else {
      for (kx = kx0; kx < kx1; ++kx) {
        const int8_t *x = xr + (size_t)(ix0 + kx * c.dw) * (size_t)c.in_c;
        const int8_t *w = wr + (size_t)kx * (size_t)c.fin;
        acc += full ? conv_dot(x, w, c.fin) : conv_dot_off(x, w, c.fin, c.off);
      }
    }
  }
  return acc;
}

void edgeq_conv_s8(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, fin = p->filter_in_c;
  const int32_t dh = p->dilation_h, dw = p->dilation_w;
  const int32_t groups = in_c / fin;
  const int32_t per_group = p->out_c / groups;
  const int32_t w_oc_stride = k_h * k_w * fin;
  const int32_t x_row = in_w * in_c;
  const conv_geom geom = conv_geom_of(p);
  int32_t b, oy, ox, g, j;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)x_row;
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      int32_t ky0, ky1;
      edgeq_tap_range(iy0, dh, k_h, in_h, &ky0, &ky1);
      for (ox = 0; ox < p->out_w; ++ox) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        int32_t kx0, kx1;
        int8_t *y = out + (((size_t)b * (size_t)p->out_h + (size_t)oy) * (size_t)p->out_w + (size_t)ox) *
                              (size_t)p->out_c;
        int32_t full;
        edgeq_tap_range(ix0, dw, k_w, in_w, &kx0, &kx1);
        full = p->acc_init != NULL && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
        for (g = 0; g < groups; ++g) {
          const int8_t *xg = img + (size_t)g * (size_t)fin;
          for (j = 0; j < per_group; ++j) {
            const int32_t oc = g * per_group + j;
            const int8_t *wo = p->weights + (size_t)oc * (size_t)w_oc_stride;
            const int32_t c = p->per_channel ? oc : 0;
            const int32_t acc = conv_window(geom, full ? p->acc_init[oc] : (p->bias ? p->bias[oc] : 0), xg, wo, iy0,
                                            ix0, ky0, ky1, kx0, kx1, full);
            y[oc] = (int8_t)edgeq_requant_clamp(&p->rq, acc, p->mult[c], p->shift[c]);
          }
        }
      }
    }
  }
}

/* Channel oc's codebook (conv.h): the cb_map[oc]-th of 2^cb_bits entries, the first without cb_map. */
EDGEQ_INLINE const int8_t *conv_codebook(const edgeq_conv_s8_params *p, int32_t oc) {
  return p->codebook + ((size_t)(p->cb_map != NULL ? p->cb_map[oc] : 0) << p->cb_bits);
}

void edgeq_conv_s4(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
  const int32_t k_h = p->k_h, k_w = p->k_w, fin = p->filter_in_c;
  const int32_t dh = p->dilation_h, dw = p->dilation_w;
  const int32_t groups = in_c / fin;
  const int32_t per_group = out_c / groups;
  const int32_t k = k_h * k_w * fin;
  const int32_t x_row = in_w * in_c;
  const conv_geom geom = conv_geom_of(p);
  int8_t *wo = (int8_t *)scratch;
  int32_t oc, b, oy, ox;
  for (oc = 0; oc < out_c; ++oc) {
    const int32_t c = p->per_channel ? oc : 0;
    const int32_t m = p->mult[c], sft = p->shift[c];
    const int32_t bias = p->bias ? p->bias[oc] : 0;
    const int32_t init = p->acc_init != NULL ? p->acc_init[oc] : 0;
    const size_t group_off = (size_t)(oc / per_group) * (size_t)fin;
    if (p->codebook != NULL && p->cb_bits == 4)
      edgeq_unpack_cb4(p->weights_s4, oc * k, k, conv_codebook(p, oc), wo);
    else if (p->codebook != NULL)
      edgeq_unpack_cb(p->weights_s4, p->cb_bits, oc * k, k, conv_codebook(p, oc), wo);
    else
      edgeq_unpack_s4(p->weights_s4, oc * k, k, wo);
    for (b = 0; b < p->batches; ++b) {
      const int8_t *xg = in + (size_t)b * (size_t)in_h * (size_t)x_row + group_off;
      int8_t *y = out + (size_t)b * (size_t)p->out_h * (size_t)p->out_w * (size_t)out_c + (size_t)oc;
      for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int32_t ky0, ky1;
        edgeq_tap_range(iy0, dh, k_h, in_h, &ky0, &ky1);
        for (ox = 0; ox < p->out_w; ++ox, y += out_c) {
          const int32_t ix0 = ox * p->stride_w - p->pad_w;
          int32_t kx0, kx1, full, acc;
          edgeq_tap_range(ix0, dw, k_w, in_w, &kx0, &kx1);
          full = p->acc_init != NULL && ky0 == 0 && ky1 == k_h && kx0 == 0 && kx1 == k_w;
          acc = conv_window(geom, full ? init : bias, xg, wo, iy0, ix0, ky0, ky1, kx0, kx1, full);
          *y = (int8_t)edgeq_requant_clamp(&p->rq, acc, m, sft);
        }
      }
    }
  }
}

#if EDGEQ_DSP
/* The K = k_h*k_w*in_c window of output pixel `pix` into slot `slot` (0/1) of the im2col buffer, in the
 * lane order of wq (see conv.h): per block of 4 rows, words [slot0 even][slot0 odd][slot1 even][slot1 odd].
 * The window's bytes in order, 4 to a word (first byte lowest), each word split by SXTB16 into its even
 * and odd lanes. A run of valid taps (contiguous in the input when dilation_w == 1) or a padding tap
 * (read from zz4, the zero point 4 times, without advancing) goes 4 (8 for valid runs starting at a multiple
 * of 4) bytes at a time (a word read unaligned and merged with the bytes pending from the previous run when
 * k is not a multiple of 4), then its last bytes one by one. */
/* n window bytes into the im2col slot at d (2 of every 4 words), the window's rows k..k+n-1: contiguous from
 * src (adv 1) or the 4 bytes at src over and over (adv 0: a padding tap's zero points). *word holds the
 * k % 4 bytes pending from before (in its top bytes) and those left after. Returns d after the complete
 * words. Word-aligned runs from a multiple of 4 go 16 bytes per LDM; the rest 4 bytes per (unaligned)
 * word, merged with the pending bytes, then the last bytes one by one. */
EDGEQ_INLINE int32_t *conv_im2col_row(const int8_t *src, int32_t adv, int32_t *d, int32_t n, int32_t k,
                                     uint32_t *word) {
  const int32_t r8 = (k & 3) * 8;
  uint32_t wd = *word;
  if (adv && r8 == 0 && ((uintptr_t)src & 3u) == 0 && n >= 16) {
    register int32_t v0 __asm__("r8"), v1 __asm__("r9"), v2 __asm__("r10"), v3 __asm__("r11");
    int32_t e, m = n >> 4;
#define CONV_ROW_WORD(v)                       \
  "sxtb16 %[e], %[" v "]\n\t"                   \
  "sxtb16 %[" v "], %[" v "], ror #8\n\t"         \
  "strd %[e], %[" v "], [%[d]], #16\n\t"
    __asm__ volatile("1:\n\t"
                     "ldm %[s]!, {%[v0], %[v1], %[v2], %[v3]}\n\t" CONV_ROW_WORD("v0") CONV_ROW_WORD("v1")
                         CONV_ROW_WORD("v2") CONV_ROW_WORD("v3")
                     "subs %[m], %[m], #1\n\t"
                     "bne 1b"
                     : [s] "+r"(src), [d] "+r"(d), [m] "+r"(m), [e] "=&r"(e), [v0] "=&r"(v0), [v1] "=&r"(v1),
                       [v2] "=&r"(v2), [v3] "=&r"(v3)
                     :
                     : "cc", "memory");
#undef CONV_ROW_WORD
    n &= 15;
  }
  for (; n >= 4; n -= 4, src += 4 * adv, d += 4) {
    const uint32_t v = (uint32_t)edgeq_ld32(src);
    const int32_t full = (int32_t)(((wd >> (31 - r8)) >> 1) | (v << r8)); /* v itself when r8 == 0 */
    wd = v;
    d[0] = __sxtb16(full);
    d[1] = edgeq_sxtb16_ror8(full);
  }
  for (; n > 0; --n) { /* (the word loop kept k % 4) */
    wd = (wd >> 8) | ((uint32_t)(uint8_t)*src << 24);
    src += adv;
    if ((++k & 3) == 0) {
      d[0] = __sxtb16((int32_t)wd);
      d[1] = edgeq_sxtb16_ror8((int32_t)wd);
      d += 4;
    }
  }
  *word = wd;
  return d;
}

/* conv_im2col_row out of line (its one copy: code size). */
static int32_t *__attribute__((noinline)) conv_im2col_run(const int8_t *src, int32_t adv, int32_t *d, int32_t n,
                                                          int32_t k, uint32_t *word) {
  return conv_im2col_row(src, adv, d, n, k, word);
}

/* conv_im2col for a window of at most CONV_STAGE_BYTES bytes (k_pad) crossing the input's edge, at its
 * im2col slot d: its bytes staged on the stack (zero points, then the valid taps' bytes over them, a run a
 * row when dilation_w is 1; the rows from k on meet zero weights) and widened in one run. Out of line: the
 * stack buffer stays out of conv_im2col's frame. */
#define CONV_STAGE_BYTES 64
static void __attribute__((noinline)) conv_im2col_staged(const edgeq_conv_s8_params *p, const int8_t *img,
                                                         int32_t iy0, int32_t ix0, int32_t *d) {
  const int32_t in_w = p->in_w, in_c = p->in_c, k_w = p->k_w, dw = p->dilation_w;
  uint32_t stage[CONV_STAGE_BYTES / 4], word = 0;
  int8_t *const sb = (int8_t *)stage;
  int32_t ky0, ky1, kx0, kx1, kx, run;
  edgeq_tap_range(iy0, p->dilation_h, p->k_h, p->in_h, &ky0, &ky1);
  edgeq_tap_range(ix0, dw, k_w, in_w, &kx0, &kx1);
  run = dw == 1 ? kx1 - kx0 : 1;
  memset(stage, (uint8_t)-p->input_offset, (size_t)p->k_pad);
  for (; ky0 < ky1; ++ky0) {
    const int8_t *const xr = img + (size_t)(iy0 + ky0 * p->dilation_h) * (size_t)in_w * (size_t)in_c;
    for (kx = kx0; kx < kx1; kx += run)
      memcpy(sb + (ky0 * k_w + kx) * in_c, xr + (size_t)(ix0 + kx * dw) * (size_t)in_c, (size_t)(run * in_c));
  }
  conv_im2col_run(sb, 1, d, p->k_pad, 0, &word);
}

/* conv_im2col for a window inside the input (dilation_w 1) whose rows of rowb bytes are not whole words (in_c 3:
 * the first convolution), at most CONV_STAGE_BYTES (k_pad) bytes, at its im2col slot d: its k_h rows packed on
 * the stack by word copies (any alignment; the words past the window zero, meeting zero weights) and widened in
 * one aligned run (16 bytes per LDM), in place of a merged run per row. */
EDGEQ_INLINE void conv_im2col_packed(const edgeq_conv_s8_params *p, const int8_t *src, int32_t *d) {
  const size_t step = (size_t)p->dilation_h * (size_t)p->in_w * (size_t)p->in_c;
  const int32_t rowb = p->k_w * p->in_c, k_h = p->k_h, k_pad = p->k_pad;
  uint32_t stage[CONV_STAGE_BYTES / 4 + 2], word = 0; /* (+2: the zero words below) */
  int8_t *sb = (int8_t *)stage;
  int32_t ky, j;
  /* the two words from the one holding byte K = rowb * k_h on (k_pad, a multiple of 8, is at most 7 past K):
   * zero, before the rows' bytes go over their first part */
  stage[(rowb * k_h) >> 2] = 0;
  stage[((rowb * k_h) >> 2) + 1] = 0;
  /* (STR / STRB written so: GCC makes memset / memcpy calls of the plain loops) */
#define CONV_STR(addr, v) __asm__("str %1, %0" : "=m"(*(uint32_t *)(void *)(addr)) : "r"(v))
  for (ky = 0; ky < k_h; ++ky, src += step, sb += rowb) {
    for (j = 0; j + 4 <= rowb; j += 4) CONV_STR(sb + j, edgeq_ld32(src + j));
    for (; j < rowb; ++j) __asm__("strb %1, %0" : "=m"(sb[j]) : "r"(src[j]));
  }
#undef CONV_STR
  conv_im2col_run((const int8_t *)stage, 1, d, k_pad, 0, &word);
}

static void conv_im2col(const edgeq_conv_s8_params *p, const int8_t *in, int32_t pix, int32_t *buf, int32_t slot) {
  if (p->k_h * p->k_w * p->stride_h * p->stride_w == 1 && (p->pad_h | p->pad_w | (p->in_c & 7)) == 0) {
    /* a 1x1 window, stride 1, no padding, in_c a multiple of 8 (k_pad itself; each factor of the product is at
     * least 1): pixel pix's in_c bytes at in + pix * in_c, widened as they are */
    uint32_t word = 0;
    conv_im2col_run(in + (size_t)pix * (size_t)p->in_c, 1, buf + 2 * slot, p->in_c, 0, &word);
    return;
  }
  const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c;
  const int32_t ox = pix % p->out_w, t = pix / p->out_w;
  const int32_t oy = t % p->out_h, b = t / p->out_h;
  const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
  const int8_t *img = in + (size_t)b * (size_t)in_h * (size_t)in_w * (size_t)in_c;
  const int32_t zp = -p->input_offset; /* padding taps: (zp + input_offset) * w == 0 */
  const uint32_t zz4 = (uint32_t)(uint8_t)zp * 0x01010101u;
  uint32_t word = 0;
  int32_t ky, kx, k = 0;
  int32_t *d = buf + 2 * slot;
  const int32_t rowb = p->k_w * in_c;
  int32_t ky0 = 0;
  if (p->dilation_w == 1 && iy0 >= 0 && ix0 >= 0 && ix0 + p->k_w <= in_w &&
      iy0 + (p->k_h - 1) * p->dilation_h < in_h) { /* inside the input: k_h runs of rowb bytes */
    const int8_t *src = img + ((size_t)iy0 * (size_t)in_w + (size_t)ix0) * (size_t)in_c;
    const size_t step = (size_t)p->dilation_h * (size_t)in_w * (size_t)in_c;
    if ((rowb & 3) != 0 && p->k_pad <= CONV_STAGE_BYTES) {
      conv_im2col_packed(p, src, d);
      return;
    }
    for (ky = 0; ky < p->k_h; ++ky, src += step, k += rowb) d = conv_im2col_run(src, 1, d, rowb, k, &word);
    ky0 = p->k_h;
  }
  if (ky0 == 0 && p->k_pad <= CONV_STAGE_BYTES) { /* a small window crossing the input's edge */
    conv_im2col_staged(p, img, iy0, ix0, d);
    return;
  }
  for (ky = ky0; ky < p->k_h; ++ky) { /* else tap by tap */
    const int32_t iy = iy0 + ky * p->dilation_h;
    const int32_t row_ok = iy >= 0 && iy < in_h;
    for (kx = 0; kx < p->k_w;) {
      const int32_t ix = ix0 + kx * p->dilation_w;
      const int32_t ok = row_ok && ix >= 0 && ix < in_w;
      const int8_t *src = ok ? img + ((size_t)iy * (size_t)in_w + (size_t)ix) * (size_t)in_c
                             : (const int8_t *)&zz4;
      int32_t run = 1; /* taps gathered at once: consecutive valid ones (dilation_w 1), or padding ones */
      if (ok && p->dilation_w == 1)
        while (kx + run < p->k_w && ix + run < in_w) ++run;
      if (!row_ok)
        run = p->k_w - kx;
      else if (!ok)
        while (kx + run < p->k_w && (ix + run * p->dilation_w < 0 || ix + run * p->dilation_w >= in_w)) ++run;
      kx += run;
      d = conv_im2col_run(src, ok, d, run * in_c, k, &word);
      k += run * in_c;
    }
  }
  for (; k < p->k_pad; ++k) { /* K padded to a multiple of 8 with zero rows */
    word >>= 8;
    if (((k + 1) & 3) == 0) {
      d[0] = __sxtb16((int32_t)word);
      d[1] = edgeq_sxtb16_ror8((int32_t)word);
      d += 4;
    }
  }
}

/* The requantization of accumulator a with multiplier m and shift sft, before the output offset:
 * edgeq_mul_qm_double for m >= 0 (the lowering only emits wq then, so SRDHM cannot saturate), without the
 * 64-bit division: for every product ab, trunc((ab + (ab >= 0 ? 2^30 : 1 - 2^30)) / 2^31) ==
 * floor((ab + 2^30) / 2^31); and RoundingDivideByPOT with a zero exponent is the identity. */
EDGEQ_INLINE int32_t conv_requant_value(int32_t a, int32_t m, int32_t sft) {
  const int32_t left = sft > 0 ? sft : 0, right = sft > 0 ? 0 : -sft;
  const int32_t mask = (int32_t)((1u << right) - 1u), thr = mask >> 1;
  const int32_t t = (int32_t)(((int64_t)(int32_t)((uint32_t)a << left) * (int64_t)m + (1LL << 30)) >> 31);
  return (t >> right) + ((t & mask) > thr + (int32_t)((uint32_t)t >> 31) ? 1 : 0);
}

/* The same requantization (with the output offset) from a channel's dsp_me constants (conv.h: multiplier m,
 * exponent e, rb = (2 * rq.output_offset + 1) << (e - 1)) of an accumulator held times 2^sc (sc 0, or 4 with
 * int4 weights, whose lanes are times 16): (t + (t < 0 ? -1 : 0) + rb) >> e with t = SMMULR(2 * acc, m),
 * exact for every reachable accumulator, which the lowering has checked. sc is a constant at every call. */
EDGEQ_INLINE int32_t conv_rq_value(int32_t a, int32_t m, int32_t e, int32_t rb, const int32_t sc) {
  const int32_t t = edgeq_smmulr(sc ? a >> (sc - 1) : (int32_t)((uint32_t)a << 1), m);
  return (t + (t >> 31) + rb) >> e;
}

/* wq_s4's words of one channel pair (nblk blocks, a multiple of 2) decoded into wq's layout, lanes times
 * 16 (see conv.h): per block one LDR, the two masks, four SXTB16 and one STM. */
static void conv_decode_s4(const int32_t *src, int32_t *dst, int32_t nblk) {
  register int32_t d0 __asm__("r8"), d1 __asm__("r9"), d2 __asm__("r10"), d3 __asm__("r11");
  int32_t v, h;
#define CONV_DECODE4                        \
  "ldr %[v], [%[s]], #4\n\t"                \
  "and %[h], %[v], #0xF0F0F0F0\n\t"         \
  "lsl %[v], %[v], #4\n\t"                  \
  "and %[v], %[v], #0xF0F0F0F0\n\t"         \
  "sxtb16 %[d0], %[h]\n\t"                  \
  "sxtb16 %[d1], %[h], ror #8\n\t"          \
  "sxtb16 %[d2], %[v]\n\t"                  \
  "sxtb16 %[d3], %[v], ror #8\n\t"          \
  "stmia %[d]!, {%[d0], %[d1], %[d2], %[d3]}\n\t"
  nblk >>= 1;
  __asm__ volatile("1:\n\t" CONV_DECODE4 CONV_DECODE4
                   "subs %[n], %[n], #1\n\t"
                   "bne 1b"
                   : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(nblk), [v] "=&r"(v), [h] "=&r"(h), [d0] "=&r"(d0),
                     [d1] "=&r"(d1), [d2] "=&r"(d2), [d3] "=&r"(d3)
                   :
                   : "cc", "memory");
#undef CONV_DECODE4
}

/* The int16 lanes (lo, hi) of a word: PKHBT (GCC makes two instructions of the C). */
EDGEQ_INLINE int32_t conv_pkhbt16(int32_t lo, int32_t hi) {
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
  return r;
}

/* conv_decode_s4 for codebook weights: wq_s4 holds 4-bit indices into the 16 int8 entries of channel oc's
 * (cb_a, high nibbles) and oc + 1's (cb_b, low nibbles) codebook (conv.h), looked up into the int16 lanes of
 * wq's layout: the entries themselves, as wq's widened bytes (no scaling). */
static void conv_decode_cb4(const int32_t *src, int32_t *dst, int32_t nblk, const int8_t *cb_a, const int8_t *cb_b) {
  int32_t i;
  for (i = 0; i < nblk; ++i, dst += 4) {
    const uint32_t v = (uint32_t)src[i];
#define CB_LANES(cb, s0, s1) conv_pkhbt16((cb)[(v >> (s0)) & 15u], (cb)[(v >> (s1)) & 15u])
    dst[0] = CB_LANES(cb_a, 4, 20);
    dst[1] = CB_LANES(cb_a, 12, 28);
    dst[2] = CB_LANES(cb_b, 0, 16);
    dst[3] = CB_LANES(cb_b, 8, 24);
#undef CB_LANES
  }
}

/* One block of conv_decode_cbn: the 8 BITS-wide fields of v from bit LO on (channel oc's rows t..t+3, then
 * oc + 1's), looked up into the block's four int16-lane words (BITS and LO constants: one UBFX a field). */
EDGEQ_INLINE void conv_cb_block(int32_t *dst, uint32_t v, uint32_t lo, uint32_t bits, const int8_t *cb_a,
                                const int8_t *cb_b) {
#define CB_F(j) ((v >> (lo + bits * (j))) & ((1u << bits) - 1u))
  dst[0] = conv_pkhbt16(cb_a[CB_F(0)], cb_a[CB_F(2)]);
  dst[1] = conv_pkhbt16(cb_a[CB_F(1)], cb_a[CB_F(3)]);
  dst[2] = conv_pkhbt16(cb_b[CB_F(4)], cb_b[CB_F(6)]);
  dst[3] = conv_pkhbt16(cb_b[CB_F(5)], cb_b[CB_F(7)]);
#undef CB_F
}

/* conv_decode_cb4 for 2- and 3-bit indices (conv.h wq_s4): a channel pair's nblk blocks (even) as one
 * little-endian bit stream of 8 * bits bits a block, in words. 2 bits: two blocks a word; 3 bits: four blocks
 * in three words (the second straddling the first two words, the third the last two), a last two blocks in
 * two words (the pair's stream padded to a word). 5 to 7 bits: conv_decode_cbw. */
static void conv_decode_cbn(const int32_t *src, int32_t *dst, int32_t nblk, const int8_t *cb_a, const int8_t *cb_b,
                            int32_t bits) {
  int32_t i;
  if (bits == 2) {
    for (i = 0; i < nblk; i += 2, dst += 8, ++src) {
      const uint32_t v = (uint32_t)src[0];
      conv_cb_block(dst, v, 0, 2, cb_a, cb_b);
      conv_cb_block(dst + 4, v, 16, 2, cb_a, cb_b);
    }
    return;
  }
  for (i = 0; i < nblk; i += 4, dst += 16, src += 3) {
    const uint32_t v0 = (uint32_t)src[0], v1 = (uint32_t)src[1];
    conv_cb_block(dst, v0, 0, 3, cb_a, cb_b);
    conv_cb_block(dst + 4, (v0 >> 24) | (v1 << 8), 0, 3, cb_a, cb_b);
    if (i + 2 < nblk) {
      const uint32_t v2 = (uint32_t)src[2];
      conv_cb_block(dst + 8, (v1 >> 16) | (v2 << 16), 0, 3, cb_a, cb_b);
      conv_cb_block(dst + 12, v2, 8, 3, cb_a, cb_b);
    }
  }
}

/* The 4 * bits bits (bits <= 7: at most 28) of the stream src from bit q on, in the low bits: the word holding
 * bit q shifted down, the next word's low bits above it where the field straddles (a word read only where the
 * stream holds bits of it, so never past the pair's padded words). */
EDGEQ_INLINE uint32_t conv_cb_quad(const int32_t *src, uint32_t q, uint32_t bits) {
  const uint32_t sh = q & 31u;
  uint32_t v = (uint32_t)src[q >> 5] >> sh;
  if (sh + 4u * bits > 32u) v |= (uint32_t)src[(q >> 5) + 1] << (32u - sh);
  return v;
}

/* One width of conv_decode_cbw (BITS a constant where inlined: every shift and mask an immediate, one UBFX a
 * field). */
EDGEQ_INLINE void conv_decode_cbw_n(const int32_t *src, int32_t *dst, int32_t nblk, const int8_t *cb_a,
                                    const int8_t *cb_b, uint32_t bits) {
  const uint32_t m = (1u << bits) - 1u;
  uint32_t q = 0;
  int32_t i;
  for (i = 0; i < nblk; ++i, dst += 4, q += 8u * bits) {
    const uint32_t va = conv_cb_quad(src, q, bits), vb = conv_cb_quad(src, q + 4u * bits, bits);
    dst[0] = conv_pkhbt16(cb_a[va & m], cb_a[(va >> (2u * bits)) & m]);
    dst[1] = conv_pkhbt16(cb_a[(va >> bits) & m], cb_a[(va >> (3u * bits)) & m]);
    dst[2] = conv_pkhbt16(cb_b[vb & m], cb_b[(vb >> (2u * bits)) & m]);
    dst[3] = conv_pkhbt16(cb_b[(vb >> bits) & m], cb_b[(vb >> (3u * bits)) & m]);
  }
}

/* conv_decode_cbn's layout for 5- to 7-bit indices (edgeq_conv_cbw_im2col): each block's 8 fields as two runs of 4 (channel oc's rows t..t+3,
 * then oc + 1's), each run at most 28 bits taken from the one or two words holding it (conv_cb_quad), then
 * looked up as conv_cb_block does: per field UBFX + LDRSB, per lane pair PKHBT. */
static void conv_decode_cbw(const int32_t *src, int32_t *dst, int32_t nblk, const int8_t *cb_a, const int8_t *cb_b,
                            int32_t bits) {
  if (bits == 5)
    conv_decode_cbw_n(src, dst, nblk, cb_a, cb_b, 5);
  else if (bits == 6)
    conv_decode_cbw_n(src, dst, nblk, cb_a, cb_b, 6);
  else
    conv_decode_cbw_n(src, dst, nblk, cb_a, cb_b, 7);
}

/* wq's words of one channel pair (nblk blocks, a multiple of 2) widened into the int16 lanes __smlad takes
 * (see conv.h): per block one LDRD (the int8 rows t..t+3 of channel oc and of oc + 1), four SXTB16 (plain
 * and ror 8: the even and odd rows, matching the im2col's lanes) and one STM. */
static void conv_widen_s8(const int32_t *src, int32_t *dst, int32_t nblk) {
  register int32_t d0 __asm__("r8"), d1 __asm__("r9"), d2 __asm__("r10"), d3 __asm__("r11");
  int32_t v0, v1;
#define CONV_WIDEN4                                 \
  "ldrd %[v0], %[v1], [%[s]], #8\n\t"               \
  "sxtb16 %[d0], %[v0]\n\t"                         \
  "sxtb16 %[d1], %[v0], ror #8\n\t"                 \
  "sxtb16 %[d2], %[v1]\n\t"                         \
  "sxtb16 %[d3], %[v1], ror #8\n\t"                 \
  "stmia %[d]!, {%[d0], %[d1], %[d2], %[d3]}\n\t"
  nblk >>= 1;
  __asm__ volatile("1:\n\t" CONV_WIDEN4 CONV_WIDEN4
                   "subs %[n], %[n], #1\n\t"
                   "bne 1b"
                   : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(nblk), [v0] "=&r"(v0), [v1] "=&r"(v1), [d0] "=&r"(d0),
                     [d1] "=&r"(d1), [d2] "=&r"(d2), [d3] "=&r"(d3)
                   :
                   : "cc", "memory");
#undef CONV_WIDEN4
}

/* The K loops of np pixel pairs (their im2col words one after the other from x, k_pad = 8 * n words each) with
 * one channel pair (wide: its widened words): acc[4q..4q+3] = {i0, i1, i0, i1} (init = {i0, i1}) plus the
 * sums of pair q's pixel a / b with channels oc / oc + 1, as {a0, a1, b0, b1}. Per block of 4 rows one LDM of
 * the 4 im2col words and one LDM of the 4 widened weight words (channel oc's even and odd lanes, then oc + 1's),
 * then 8 __smlad: 10 instructions; n pairs of blocks per pixel pair, 4 blocks per iteration, the first
 * entered at its second half when n is odd. The pixel pairs loop inside the assembly too (the accumulators
 * start from init, go to acc with one STM): the blocks take all 14 registers, so the loop's other values
 * live on the stack and are read into the registers of the words a block no longer needs. */
#define CONV_BLOCK_W4                              \
  "ldm %[x]!, {%[xe], %[xo], %[ye], %[yo]}\n\t"    \
  "ldm %[w]!, {%[u0], %[v0], %[u1], %[v1]}\n\t"    \
  "smlad %[a0], %[xe], %[u0], %[a0]\n\t"           \
  "smlad %[a0], %[xo], %[v0], %[a0]\n\t"           \
  "smlad %[b0], %[ye], %[u0], %[b0]\n\t"           \
  "smlad %[b0], %[yo], %[v0], %[b0]\n\t"           \
  "smlad %[a1], %[xe], %[u1], %[a1]\n\t"           \
  "smlad %[a1], %[xo], %[v1], %[a1]\n\t"           \
  "smlad %[b1], %[ye], %[u1], %[b1]\n\t"           \
  "smlad %[b1], %[yo], %[v1], %[b1]\n\t"

#if !defined(__OPTIMIZE__)
/* Unoptimized builds (-O0 keeps the frame pointer in r7, which the assembly below needs): the same sums in C. */
static void conv_kloops(const int32_t *x, const int32_t *wide, int32_t n, int32_t np, int32_t i0, int32_t i1,
                        int32_t *acc) {
  int32_t q, k;
  for (q = 0; q < np; ++q, acc += 4) {
    const int32_t *w = wide;
    int32_t a0 = i0, a1 = i1, b0 = i0, b1 = i1;
    for (k = 0; k < 2 * n; ++k, x += 4, w += 4) {
      a0 = __smlad(x[0], w[0], a0);
      a0 = __smlad(x[1], w[1], a0);
      b0 = __smlad(x[2], w[0], b0);
      b0 = __smlad(x[3], w[1], b0);
      a1 = __smlad(x[0], w[2], a1);
      a1 = __smlad(x[1], w[3], a1);
      b1 = __smlad(x[2], w[2], b1);
      b1 = __smlad(x[3], w[3], b1);
    }
    acc[0] = a0, acc[1] = a1, acc[2] = b0, acc[3] = b1;
  }
}
#else
/* Out of line: inlined into a caller GCC may address the stack operands through another register, of which
 * the loop leaves none ("impossible constraints" at some -O levels and cores). */
static EDGEQ_NOINLINE void conv_kloops(const int32_t *x, const int32_t *wide, int32_t n, int32_t np, int32_t i0,
                                       int32_t i1, int32_t *acc) {
  const int32_t *xend = x + 8 * n;
  const int32_t *const xlast = x + 8 * n * np, *const wide0 = wide;
  const int32_t odd = n & 1, kbytes = 32 * n;
  int32_t *accp = acc;
  const int32_t *w;
  uint32_t entry;
  /* fixed registers: ascending for the LDMs and the STM */
  register int32_t a0 __asm__("r0"), a1 __asm__("r1"), b0 __asm__("r2"), b1 __asm__("r3");
  register int32_t u0 __asm__("r4"), v0 __asm__("r5"), u1 __asm__("r6"), v1 __asm__("r7");
  register int32_t xe __asm__("r8"), xo __asm__("r9"), ye __asm__("r10"), yo __asm__("r11");
  __asm__ volatile("ldr %[u0], %[odd]\n\t" /* the entry of every pixel pair's K loop, with the Thumb bit */
                   "cmp %[u0], #0\n\t"
                   "beq 4f\n\t"
                   "adr %[u0], 3f\n\t"
                   "b 5f\n\t"
                   "4:\n\t"
                   "adr %[u0], 1f\n\t"
                   "5:\n\t"
                   "orr %[u0], %[u0], #1\n\t"
                   "str %[u0], %[entry]\n\t"
                   "0:\n\t"
                   "ldr %[a0], %[i0]\n\t"
                   "ldr %[a1], %[i1]\n\t"
                   "mov %[b0], %[a0]\n\t"
                   "mov %[b1], %[a1]\n\t"
                   "ldr %[w], %[wide0]\n\t"
                   "ldr pc, %[entry]\n\t"
                   ".p2align 2\n\t"
                   "1:\n\t" CONV_BLOCK_W4 CONV_BLOCK_W4
                   "3:\n\t" CONV_BLOCK_W4 CONV_BLOCK_W4
                   "ldr %[v1], %[xend]\n\t"
                   "cmp %[x], %[v1]\n\t"
                   "bne 1b\n\t"
                   "ldr %[u0], %[accp]\n\t"
                   "stmia %[u0]!, {%[a0], %[a1], %[b0], %[b1]}\n\t"
                   "str %[u0], %[accp]\n\t"
                   "ldr %[u0], %[kbytes]\n\t"
                   "add %[v1], %[v1], %[u0]\n\t"
                   "str %[v1], %[xend]\n\t"
                   "ldr %[u0], %[xlast]\n\t"
                   "cmp %[x], %[u0]\n\t"
                   "bne 0b"
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1), [x] "+r"(x), [w] "=&r"(w),
                     [xe] "=&r"(xe), [xo] "=&r"(xo), [ye] "=&r"(ye), [yo] "=&r"(yo), [u0] "=&r"(u0), [v0] "=&r"(v0),
                     [u1] "=&r"(u1), [v1] "=&r"(v1), [xend] "+m"(xend), [accp] "+m"(accp), [entry] "=m"(entry)
                   : [xlast] "m"(xlast), [wide0] "m"(wide0), [i0] "m"(i0), [i1] "m"(i1), [odd] "m"(odd),
                     [kbytes] "m"(kbytes)
                   : "cc", "memory");
}
#endif
#undef CONV_BLOCK_W4

/* CONV_BLOCK_W4's block on wq's int8 words, widened in registers (for s4_pairs == 0, where the arena has no room for
 * a widened channel pair): one LDRD of both channels' 4 rows, per channel SXTB16 (the even rows) into t
 * and SXTB16 ror 8 (the odd rows) in place. */
#define CONV_BLOCK_S8                              \
  "ldm %[x]!, {%[xe], %[xo], %[ye], %[yo]}\n\t"    \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"              \
  "sxtb16 %[t], %[w0]\n\t"                         \
  "sxtb16 %[w0], %[w0], ror #8\n\t"                \
  "smlad %[a0], %[xe], %[t], %[a0]\n\t"            \
  "smlad %[a0], %[xo], %[w0], %[a0]\n\t"           \
  "smlad %[b0], %[ye], %[t], %[b0]\n\t"            \
  "smlad %[b0], %[yo], %[w0], %[b0]\n\t"           \
  "sxtb16 %[t], %[w1]\n\t"                         \
  "sxtb16 %[w1], %[w1], ror #8\n\t"                \
  "smlad %[a1], %[xe], %[t], %[a1]\n\t"            \
  "smlad %[a1], %[xo], %[w1], %[a1]\n\t"           \
  "smlad %[b1], %[ye], %[t], %[b1]\n\t"            \
  "smlad %[b1], %[yo], %[w1], %[b1]\n\t"

/* conv_kloop reading wq directly (w: the channel pair's int8 words), no widened copy. */
#if !defined(__OPTIMIZE__)
/* Unoptimized builds (-O0 keeps the frame pointer in r7, which the assembly below needs): the same sums in C. */
static void conv_kloop_s8(const int32_t *x, const int32_t *w, int32_t n, int32_t a0, int32_t a1, int32_t *acc) {
  int32_t b0 = a0, b1 = a1, k;
  for (k = 0; k < 2 * n; ++k, x += 4, w += 2) {
    const int32_t e0 = __sxtb16(w[0]), o0 = edgeq_sxtb16_ror8(w[0]);
    const int32_t e1 = __sxtb16(w[1]), o1 = edgeq_sxtb16_ror8(w[1]);
    a0 = __smlad(x[1], o0, __smlad(x[0], e0, a0));
    b0 = __smlad(x[3], o0, __smlad(x[2], e0, b0));
    a1 = __smlad(x[1], o1, __smlad(x[0], e1, a1));
    b1 = __smlad(x[3], o1, __smlad(x[2], e1, b1));
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = b0;
  acc[3] = b1;
}
#else
EDGEQ_INLINE void conv_kloop_s8(const int32_t *x, const int32_t *w, int32_t n, int32_t a0, int32_t a1,
                                int32_t *acc) {
  int32_t b0 = a0, b1 = a1, w0, w1, t;
  register int32_t xe __asm__("r8"), xo __asm__("r9"), ye __asm__("r10"), yo __asm__("r11");
  __asm__ volatile("lsrs %[n], %[n], #1\n\t"
                   "bcc 1f\n\t"
                   "adds %[n], %[n], #1\n\t"
                   "b 3f\n\t"
                   "1:\n\t" CONV_BLOCK_S8 CONV_BLOCK_S8
                   "3:\n\t" CONV_BLOCK_S8 CONV_BLOCK_S8
                   "subs %[n], %[n], #1\n\t"
                   "bne 1b"
                   : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [x] "+r"(x), [w] "+r"(w),
                     [n] "+r"(n), [xe] "=&r"(xe), [xo] "=&r"(xo), [ye] "=&r"(ye), [yo] "=&r"(yo),
                     [w0] "=&r"(w0), [w1] "=&r"(w1), [t] "=&r"(t)
                   :
                   : "cc", "memory");
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = b0;
  acc[3] = b1;
}
#endif
#undef CONV_BLOCK_S8

/* Channel ch's dsp_me constants (conv.h): {m, e, rb}. */
typedef struct {
  int32_t m, e, rb;
} conv_me_t;

EDGEQ_INLINE conv_me_t conv_me(const edgeq_conv_s8_params *p, int32_t ch) {
  const int32_t e = ((const uint8_t *)(p->dsp_me + p->out_c))[ch];
  const conv_me_t c = {p->dsp_me[ch], e, (int32_t)((uint32_t)(2 * p->rq.output_offset + 1) << (e - 1))};
  return c;
}

/* Requantize the accumulators acc[4q..4q+3] = {a0, a1, b0, b1} (times 2^sc: conv_rq_value) of np pixel pairs
 * (pixel a of pair q at y + 2q * out_c, pixel b one pixel later; `left` pixels from y on) for channels oc
 * (constants c0) and oc + d1 (c1), the output clamp being int8's own (SSAT alone; conv_rq_other otherwise). */
EDGEQ_INLINE void conv_rq_pairs(const conv_me_t c0, const conv_me_t c1, int32_t d1, const int32_t *acc, int32_t np,
                                int8_t *y, int32_t out_c, int32_t left, const int32_t sc) {
  int32_t q;
  for (q = 0; q < np; ++q, y += 2 * out_c, acc += 4) {
    int8_t *yb = 2 * q + 1 < left ? y + out_c : y;
#define CONV_RQ(dst, a, c) (dst) = (int8_t)__ssat(conv_rq_value((a), (c).m, (c).e, (c).rb, sc), 8);
    /* channel oc1 first: for an odd out_c it is oc again, and oc's store must win (an odd last pixel is
     * computed twice, pixel b of its pair being pixel a again, and stored once) */
    CONV_RQ(yb[d1], acc[3], c1)
    CONV_RQ(y[d1], acc[1], c1)
    CONV_RQ(yb[0], acc[2], c0)
    CONV_RQ(y[0], acc[0], c0)
#undef CONV_RQ
  }
}

/* The requantization of one pixel pair (acc = {a0, a1, b0, b1}, pixel a at y, `left` pixels from y on) for
 * channels oc and oc1 other than by SSAT alone: dsp_me with a [lo, hi] narrower than int8, or the generic
 * one (no dsp_me). Out of line: rarely the hot path. */
static void __attribute__((noinline)) conv_rq_other(const edgeq_conv_s8_params *p, int32_t oc, int32_t oc1,
                                                     const int32_t *acc, int8_t *y, int32_t left) {
  const int32_t d1 = oc1 - oc, out_c = p->out_c;
  int32_t j;
  /* {a0, a1, b0, b1}: channel oc1 first (for an odd out_c it is oc again, and oc's store must win), pixel b
   * before pixel a (an odd last pixel is both) */
  for (j = 3; j >= 0; --j) {
    const int32_t ch = j & 1 ? oc1 : oc;
    int8_t *dst = y + (j & 1 ? d1 : 0) + (j >= 2 && left > 1 ? out_c : 0);
    int32_t v;
    if (p->dsp_me != NULL) {
      const conv_me_t c = conv_me(p, ch);
      v = conv_rq_value(acc[j], c.m, c.e, c.rb, 0);
    } else {
      const int32_t c = p->per_channel ? ch : 0;
      v = conv_requant_value(acc[j], p->mult[c], p->shift[c]) + p->rq.output_offset;
    }
    *dst = (int8_t)edgeq_clamp_i32(v, p->rq.act_min, p->rq.act_max);
  }
}

/* s4_pairs == 0 (no room for a widened channel pair): output pixels two at a time (their windows gathered
 * into the im2col buffer buf) times output channels two at a time, wq's int8 weights widened in the K loop,
 * each channel pair requantized from registers (the per-op constants of dsp_me read into locals once). */
static void conv_dsp_pair(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *buf) {
  const int32_t npix = p->batches * p->out_h * p->out_w;
  const int32_t out_c = p->out_c, nblk2 = p->k_pad >> 3, wstep = p->k_pad >> 1;
  const int32_t *const acc_init = p->acc_init, *const mv = p->dsp_me;
  const uint8_t *const ev = (const uint8_t *)(mv + (mv != NULL ? out_c : 0)); /* conv_me */
  const uint32_t odd = 2u * (uint32_t)p->rq.output_offset + 1u;
  const int ssat_only = mv != NULL && p->rq.act_min == -128 && p->rq.act_max == 127;
  int32_t pix, oc;
  for (pix = 0; pix < npix; pix += 2) {
    const int32_t pb = pix + 1 < npix ? pix + 1 : pix;
    int8_t *const ya = out + (size_t)pix * (size_t)out_c, *const yb = out + (size_t)pb * (size_t)out_c;
    const int32_t *w = p->wq;
    conv_im2col(p, in, pix, buf, 0);
    conv_im2col(p, in, pb, buf, 1);
    for (oc = 0; oc < out_c; oc += 2, w += wstep) {
      const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;
      int32_t acc[4];
      conv_kloop_s8(buf, w, nblk2, acc_init[oc], acc_init[oc1], acc);
      if (ssat_only) {
        const int32_t e0 = ev[oc], e1 = ev[oc1], m0 = mv[oc], m1 = mv[oc1];
        const int32_t rb0 = (int32_t)(odd << (e0 - 1)), rb1 = (int32_t)(odd << (e1 - 1));
        const int8_t va0 = (int8_t)__ssat(conv_rq_value(acc[0], m0, e0, rb0, 0), 8);
        const int8_t vb0 = (int8_t)__ssat(conv_rq_value(acc[2], m0, e0, rb0, 0), 8);
        const int8_t va1 = (int8_t)__ssat(conv_rq_value(acc[1], m1, e1, rb1, 0), 8);
        const int8_t vb1 = (int8_t)__ssat(conv_rq_value(acc[3], m1, e1, rb1, 0), 8);
        /* channel oc1 first: for an odd out_c it is oc again, and oc's store must win (an odd last pixel is
         * computed twice, pixel b being pixel a, and stored once) */
        yb[oc1] = vb1;
        ya[oc1] = va1;
        yb[oc] = vb0;
        ya[oc] = va0;
      } else {
        const int32_t a[4] = {acc[0], acc[1], acc[2], acc[3]};
        conv_rq_other(p, oc, oc1, a, ya + oc, npix - pix);
      }
    }
  }
}

/* The DSP paths' loop, one implementation expanded for wq (conv_dsp) and for wq_s4 (conv_dsp_s4): output
 * pixels in groups of s4_pairs pairs (at most EDGEQ_CONV_DSP_MAX_PAIRS; their windows gathered into the
 * im2col buffers at buf, k_pad words per pair) times output channels two at a time (k_pad is a multiple of
 * 8); each channel pair's weights are put once per group into `wide` (after the im2col buffers) as the int16
 * lanes of conv.h and used by all its pixel pairs (conv_kloops), whose accumulators are then requantized with
 * the channel pair's constants read once (conv_rq_pairs, or conv_rq_other given them unscaled).
 * W0: the first channel pair's weight words, WSTEP: a channel pair's words, FILL: the statement that puts
 * the channel pair at w into `wide`, SC: the accumulators are 2^SC times the sums (the lanes' scale; they
 * start from acc_init << SC), PAIR0: whether s4_pairs 0 means conv_dsp_pair (wq widened in the K loop).
 * (A macro, not an inline function: expanded so, the int8 path compiles to the very code it had alone.) */
#define CONV_DSP_GROUPS(W0, WSTEP, FILL, SC, PAIR0)                                                            \
  const int32_t npix = p->batches * p->out_h * p->out_w;                                                      \
  const int32_t out_c = p->out_c, k_pad = p->k_pad, nblk2 = k_pad >> 3;                                       \
  const int32_t pairs = p->s4_pairs;                                                                          \
  const int ssat_only = p->dsp_me != NULL && p->rq.act_min == -128 && p->rq.act_max == 127;                   \
  int32_t *wide = buf + (size_t)pairs * (size_t)k_pad;                                                        \
  int32_t acc_stack[4 * EDGEQ_CONV_DSP_STACK_PAIRS];                                                          \
  /* the group's accumulators: a large group's in the scratch (edgeq_conv_dsp_scratch_bytes) */              \
  int32_t *const acc = pairs > EDGEQ_CONV_DSP_STACK_PAIRS ? wide + k_pad : acc_stack;                       \
  int32_t pix, oc, q;                                                                                         \
  if (PAIR0 && pairs == 0) {                                                                                  \
    conv_dsp_pair(p, in, out, buf);                                                                           \
    return;                                                                                                   \
  }                                                                                                           \
  for (pix = 0; pix < npix; pix += 2 * pairs) {                                                               \
    const int32_t left = (npix - pix + 1) >> 1;                                                               \
    const int32_t np = left < pairs ? left : pairs;                                                           \
    const int32_t *w = W0;                                                                                    \
    int8_t *const y0 = out + (size_t)pix * (size_t)out_c;                                                     \
    for (q = 0; q < np; ++q) {                                                                                \
      const int32_t pa = pix + 2 * q, pb = pa + 1 < npix ? pa + 1 : pa;                                       \
      conv_im2col(p, in, pa, buf + (size_t)q * (size_t)k_pad, 0);                                             \
      conv_im2col(p, in, pb, buf + (size_t)q * (size_t)k_pad, 1);                                             \
    }                                                                                                         \
    for (oc = 0; oc < out_c; oc += 2, w += WSTEP) {                                                           \
      const int32_t oc1 = oc + 1 < out_c ? oc + 1 : oc;                                                       \
      const int32_t i0 = (int32_t)((uint32_t)p->acc_init[oc] << SC), i1 = (int32_t)((uint32_t)p->acc_init[oc1] << SC); \
      FILL;                                                                                                   \
      conv_kloops(buf, wide, nblk2, np, i0, i1, acc);                                                         \
      if (ssat_only) {                                                                                        \
        if (SC) /* (0 or 4: conv_rq_pairs for each, its scaling a constant) */                                \
          conv_rq_pairs(conv_me(p, oc), conv_me(p, oc1), oc1 - oc, acc, np, y0 + oc, out_c, npix - pix, 4);   \
        else                                                                                                  \
          conv_rq_pairs(conv_me(p, oc), conv_me(p, oc1), oc1 - oc, acc, np, y0 + oc, out_c, npix - pix, 0);   \
      } else {                                                                                                \
        for (q = 0; SC && q < 4 * np; ++q) acc[q] >>= SC; /* exact: multiples of 2^SC */                     \
        for (q = 0; q < np; ++q)                                                                              \
          conv_rq_other(p, oc, oc1, acc + 4 * q, y0 + oc + (size_t)(2 * q) * (size_t)out_c, npix - pix - 2 * q); \
      }                                                                                                       \
    }                                                                                                         \
  }

/* wq (int8 weights): widened into `wide` once per group, or in the K loop with s4_pairs 0 (conv_dsp_pair). */
static void conv_dsp(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *buf) {
  CONV_DSP_GROUPS(p->wq, k_pad >> 1, conv_widen_s8(w, wide, k_pad >> 2), 0, 1)
}

/* An odd out_c's last channel partner's codebook (its weights zero, whatever wq_s4's zero indices name: the
 * padding channel's indices are all 0, so only the first entry is read, at any cb_bits). */
static const int8_t conv_cb_zero[16];

/* A decoded channel pair's rows k..k_pad - 1 zeroed (k: the window's rows): there the im2col holds zero points where a window crosses
 * the input's edge (conv_im2col_staged), which int8 and int4's zero rows cancel and the entry that wq_s4's zero
 * indices name would not. */
EDGEQ_INLINE void conv_cb_zero_rows(const edgeq_conv_s8_params *p, int32_t *wide, int32_t k) {
  int32_t r;
  for (r = k; r < p->k_pad; ++r) { /* row r: block r / 4, even or odd lanes word */
    int32_t *const d = wide + 4 * (r >> 2) + (r & 1);
    const uint32_t keep = (r & 2) ? 0xFFFFu : 0xFFFF0000u;
    d[0] = (int32_t)((uint32_t)d[0] & keep); /* channel oc */
    d[2] = (int32_t)((uint32_t)d[2] & keep); /* channel oc + 1 */
  }
}

/* conv_decode_cb4 (4-bit indices) or conv_decode_cbn (2, 3) of the channel pair oc, oc + 1 (its codebooks
 * through cb_map) into `wide`, then conv_cb_zero_rows. */
static void conv_fill_cb(const edgeq_conv_s8_params *p, const int32_t *w, int32_t *wide, int32_t oc) {
  const int32_t k = p->k_h * p->k_w * p->filter_in_c;
  const int8_t *const cb_b = oc + 1 < p->out_c ? conv_codebook(p, oc + 1) : conv_cb_zero;
  if (p->cb_bits == 4)
    conv_decode_cb4(w, wide, p->k_pad >> 2, conv_codebook(p, oc), cb_b);
  else
    conv_decode_cbn(w, wide, p->k_pad >> 2, conv_codebook(p, oc), cb_b, p->cb_bits);
  conv_cb_zero_rows(p, wide, k);
}

/* conv_fill_cb for 5- to 7-bit indices (conv_decode_cbw). */
static void conv_fill_cbw(const edgeq_conv_s8_params *p, const int32_t *w, int32_t *wide, int32_t oc) {
  const int32_t k = p->k_h * p->k_w * p->filter_in_c;
  const int8_t *const cb_b = oc + 1 < p->out_c ? conv_codebook(p, oc + 1) : conv_cb_zero;
  conv_decode_cbw(w, wide, p->k_pad >> 2, conv_codebook(p, oc), cb_b, p->cb_bits);
  conv_cb_zero_rows(p, wide, k);
}

/* wq_s4 (int4 weights, lanes times 16) decoded once per group of s4_pairs pixel pairs. */
static void conv_dsp_s4(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *buf) {
  CONV_DSP_GROUPS(p->wq_s4, k_pad >> 2, conv_decode_s4(w, wide, k_pad >> 2), 4, 0)
}

/* wq_s4's codebook indices (cb_bits wide; a channel pair's (k_pad * cb_bits + 15) / 16 words) looked up in the
 * channels' codebooks once per group of s4_pairs pixel pairs (conv_fill_cb). */
static void conv_dsp_cb(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *buf) {
  CONV_DSP_GROUPS(p->wq_s4, (k_pad * p->cb_bits + 15) >> 4, conv_fill_cb(p, w, wide, oc), 0, 0)
}

/* conv_dsp_cb for 5- to 7-bit indices (conv_fill_cbw). */
static void conv_dsp_cbw(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, int32_t *buf) {
  CONV_DSP_GROUPS(p->wq_s4, (k_pad * p->cb_bits + 15) >> 4, conv_fill_cbw(p, w, wide, oc), 0, 0)
}
#undef CONV_DSP_GROUPS
#endif

/* (parenthesized: conv.h maps calls to edgeq_conv_s8 on builds without the DSP extension) */
void(edgeq_conv_s8_im2col)(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
#if EDGEQ_MVE
  if (p->wq == NULL) { /* --cpu mve: the Helium body (conv_mve.h) */
    conv_mve(p, in, out, (int8_t *)scratch);
    return;
  }
#endif
#if EDGEQ_DSP
  /* The lowering only picks this kernel with wq and acc_init set, double rounding and non-negative
   * multipliers (other configurations call edgeq_conv_s8), so DSP builds do not link the portable loop. */
  conv_dsp(p, in, out, (int32_t *)scratch);
#else
  (void)scratch;
  edgeq_conv_s8(p, in, out);
#endif
}

/* (parenthesized: conv.h maps calls to edgeq_conv_s4 on builds without the DSP extension) */
void(edgeq_conv_s4_im2col)(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
#if EDGEQ_DSP
  conv_dsp_s4(p, in, out, (int32_t *)scratch);
#else
  edgeq_conv_s4(p, in, out, scratch);
#endif
}

/* (parenthesized: conv.h maps calls to edgeq_conv_s4 on builds without the DSP extension) */
void(edgeq_conv_cb_im2col)(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
#if EDGEQ_DSP
  conv_dsp_cb(p, in, out, (int32_t *)scratch);
#else
  edgeq_conv_s4(p, in, out, scratch);
#endif
}

/* (parenthesized: conv.h maps calls to edgeq_conv_s4 on builds without the DSP extension) */
void(edgeq_conv_cbw_im2col)(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
#if EDGEQ_DSP
  conv_dsp_cbw(p, in, out, (int32_t *)scratch);
#else
  edgeq_conv_s4(p, in, out, scratch);
#endif
}
