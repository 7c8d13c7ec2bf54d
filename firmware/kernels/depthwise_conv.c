#include "depthwise_conv.h"
#include "depthwise_conv_mve.h"

/* Output channels accumulated together per output pixel (int32 accumulators on the stack). */
#define EDGEQ_DW_BLOCK 32

#if EDGEQ_DSP
/* The DSP path runs depth_mult 1, 2 to EDGEQ_DW_DSP_MAX_TAPS taps (k_h * k_w) and out_c <= 4 *
 * EDGEQ_DW_ZBUF_WORDS rounded up to 4 (the lowering emits dsp_pack only then): taps outside the input read
 * zbuf, EDGEQ_DW_ZBUF_WORDS words of the input zero point. */
#define EDGEQ_DW_ZBUF_WORDS 64

/* Per-pixel context of the asm loops, relative to the window origin o = in + (iy0 * in_w + ix0) * c (a loop
 * runs g from o to o + c in steps of 4 and reads tap t's 4 channels at offset[t] + g), around its word b: the
 * tap offsets are contiguous and end at b[DW_B_ODD_TAP], the 2 * (T / 2) tap pairs' just before b, an odd
 * tap count T's last tap at b[DW_B_ODD_TAP] itself (dw_dsp_loop9 reads its 9 taps at fixed offsets). Then
 * 2 * rq.output_offset + 1 (after the odd tap's offset: one LDRD reads both), lo4, hi4, the first pair's
 * address, T odd?, clamp?, the output pixel - o, o + c (one LDM reads the three at each group's store), o.
 * Interior windows share one constant set of offsets. The loops get b + DW_B_CLAMP. */
enum { DW_B_ODD_TAP, DW_B_K, DW_B_LO, DW_B_HI, DW_B_T0, DW_B_ODD, DW_B_CLAMP, DW_B_Y, DW_B_END, DW_B_G0, DW_B_N };
_Static_assert(DW_B_CLAMP == 6 && DW_B_G0 == 9 && DW_B_T0 == 4 && DW_B_LO == 2 && DW_B_ODD == 5,
               "the byte offsets the loops read");
/* tap pair offsets before b: at most EDGEQ_DW_DSP_MAX_TAPS - 1 */
#define DW_MAX_PAIR_TAPS (EDGEQ_DW_DSP_MAX_TAPS & ~1)

typedef const int32_t *(*dw_loop_fn)(uintptr_t *cx, const int32_t *w);

/* Taps a, b of 4 channels (registers: r5 g, r6 w; r0..r3 the channels' accumulators): TAPS loads the two
 * taps' offsets into r8, r9, WLOAD the pair's weight words into r11 and W2 (or the group's first LDM did;
 * WLOAD2 loads W2 when WLOAD did not). The two x words X1, X2 are paired bytewise (PKHBT: c0 c1 of both,
 * PKHTB: c2 c3), so SXTB16 of a pair gives (X1[c], X2[c]) and of the weight word (w[a][c], w[b][c]): one
 * SMLAD each. */
#define DW_PAIR(TAPS, WLOAD, WLOAD2, W2)          \
  TAPS                                            \
  "ldr r8, [r8, r5]\n\t"                          \
  "ldr r9, [r9, r5]\n\t"                          \
  "pkhbt r10, r8, r9, lsl #16\n\t"                \
  "pkhtb r9, r9, r8, asr #16\n\t"                 \
  WLOAD                                           \
  "sxtb16 r8, r10\n\t"                            \
  "sxtb16 r10, r10, ror #8\n\t"                   \
  "sxtb16 lr, r11\n\t"                            \
  "sxtb16 r11, r11, ror #8\n\t"                   \
  "smlad r0, r8, lr, r0\n\t"                      \
  "smlad r1, r10, r11, r1\n\t"                    \
  WLOAD2                                          \
  "sxtb16 r8, r9\n\t"                             \
  "sxtb16 r9, r9, ror #8\n\t"                     \
  "sxtb16 lr, " W2 "\n\t"                         \
  "sxtb16 " W2 ", " W2 ", ror #8\n\t"             \
  "smlad r2, r8, lr, r2\n\t"                      \
  "smlad r3, r9, " W2 ", r3\n\t"
/* dw_dsp_loop9's pairs: offsets at r4 (= b + DW_B_CLAMP) + OFF, weights by LDRD */
#define DW_PAIR9(OFF, WLOAD) DW_PAIR("ldrd r8, r9, [r4, #(" #OFF ")]\n\t", WLOAD, "", "r12")
#define DW_WLOAD "ldrd r11, r12, [r6], #8\n\t"

/* The lone tap (odd tap counts; r8 its offset): channels in lanes, (c0, c2) and (c1, c3). */
#define DW_ODD                   \
  "ldr r9, [r8, r5]\n\t"         \
  "ldr r11, [r6], #4\n\t"        \
  "sxtb16 r10, r9\n\t"           \
  "sxtb16 r9, r9, ror #8\n\t"    \
  "sxtb16 r12, r11\n\t"          \
  "sxtb16 r11, r11, ror #8\n\t"  \
  "smlabb r0, r10, r12, r0\n\t"  \
  "smlatt r2, r10, r12, r2\n\t"  \
  "smlabb r1, r9, r11, r1\n\t"   \
  "smlatt r3, r9, r11, r3\n\t"

/* Requantize accumulator A with m2 in M, per channel (see dsp_pack; lr = k = 2 * output_offset + 1, r9's low
 * byte e - 1: a register-held shift reads only that byte): ssat8(((smmlar(A, m2, A - (A < 0)) >> (e - 1)) + k) >> 1) */
#define DW_RQ(A, M)                    \
  "add r12, " A ", " A ", asr #31\n\t" \
  "smmlar " A ", " A ", " M ", r12\n\t" \
  "asr " A ", " A ", r9\n\t"           \
  "add " A ", " A ", lr\n\t"           \
  "ssat " A ", #8, " A ", asr #1\n\t"
/* The group's 4 channels requantized into the bytes of r0: the shifts' word with 2 multipliers, then the
 * other 2. */
#define DW_REQUANT                                              \
  "ldm r6!, {r9, r10, r11}\n\t"                                 \
  DW_RQ("r0", "r10") "lsr r9, r9, #8\n\t"                       \
  DW_RQ("r1", "r11") "ldrd r10, r11, [r6], #8\n\t"              \
  "lsr r9, r9, #8\n\t" DW_RQ("r2", "r10") "lsr r9, r9, #8\n\t"  \
  DW_RQ("r3", "r11")                                            \
  "bfi r0, r1, #8, #8\n\t"                                      \
  "bfi r0, r2, #16, #8\n\t"                                     \
  "bfi r0, r3, #24, #8\n\t"

/* r1 = clamp?, r2 = y - o, r3 = o + c: clamp r0 bytewise between lo4, hi4 (at LOHI) when asked, store it at
 * y - o + g, and run the next group until g reaches o + c. */
#define DW_STORE(LOHI)                                                        \
  "cbz r1, 2f\n\t"                                                            \
  "ldrd r8, r9, " LOHI "\n\t"                                                 \
  "ssub8 r1, r0, r8\n\t"                                                      \
  "sel r0, r0, r8\n\t"                                                        \
  "ssub8 r1, r0, r9\n\t"                                                      \
  "sel r0, r9, r0\n"                                                          \
  "2:\n\t"                                                                    \
  "str r0, [r2, r5]\n\t"                                                      \
  "adds r5, r5, #4\n\t" /* the 16-bit encoding; cmp sets the flags again */  \
  "cmp r5, r3\n\t"                                                            \
  "blo 1b"

#define DW_LOOP_REGS                                                                                         \
  register const int32_t *wp __asm__("r6") = w;                                                              \
  register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");                   \
  register int32_t g __asm__("r5");                                                                          \
  register int32_t t8 __asm__("r8"), t9 __asm__("r9"), t10 __asm__("r10"), t11 __asm__("r11");               \
  register int32_t t12 __asm__("r12"), t14 __asm__("lr")
#define DW_LOOP_OUTS                                                                                         \
  "=&r"(a0), "=&r"(a1), "=&r"(a2), "=&r"(a3), "+r"(wp), "=&r"(g), "=&r"(t8), "=&r"(t9), "=&r"(t10),         \
      "=&r"(t11), "=&r"(t12), "=&r"(t14)

/* One pass of a channel-quad loop over the pixel context (cx = b + DW_B_CLAMP, see DW_B_*): from G0 to
 * END in steps of 4 channels, constants from w (per group, see dsp_pack in depthwise_conv.h); returns w
 * advanced past the groups it ran. Out of line: one copy of the asm serves the quads and the tail. Fixed
 * registers (LDM loads ascending registers): r0..r3 accumulators, r4 cx, r5 g, r6 w.
 *
 * dw_dsp_loop9: 9 taps, the four pairs unrolled (their offsets at fixed places before cx), then the lone
 * tap; acc_init is read with the first pair's weights by one LDM. */
static const int32_t *__attribute__((noinline)) dw_dsp_loop9(uintptr_t *cx, const int32_t *w) {
  register uintptr_t *tp __asm__("r4") = cx;
  DW_LOOP_REGS;
  __asm__ volatile(
      "ldr r5, [r4, #12]\n"
      "1:\n\t"
      "ldm r6!, {r0, r1, r2, r3, r11, r12}\n\t"
      DW_PAIR9(-56, "") DW_PAIR9(-48, DW_WLOAD) DW_PAIR9(-40, DW_WLOAD) DW_PAIR9(-32, DW_WLOAD)
      "ldrd r8, lr, [r4, #-24]\n\t" /* the lone tap's offset, k */
      DW_ODD DW_REQUANT
      "ldm r4, {r1, r2, r3}\n\t"
      DW_STORE("[r4, #-16]")
      : DW_LOOP_OUTS
      : "r"(tp)
      : "cc", "memory");
  return wp;
}

/* dw_dsp_loop_any: any tap count from 2. Per group, r4 walks the pairs' offsets from the first pair's
 * (DW_B_T0) up to b (in r12), each pair's two weight words loaded one at a time (r12 is taken); then the
 * lone tap when the count is odd (DW_B_ODD). */
static const int32_t *__attribute__((noinline)) dw_dsp_loop_any(uintptr_t *cx, const int32_t *w) {
  register uintptr_t *tp __asm__("r4") = cx - DW_B_CLAMP;
  DW_LOOP_REGS;
  __asm__ volatile(
      "ldr r5, [r4, #36]\n"
      "1:\n\t"
      "ldm r6!, {r0, r1, r2, r3}\n\t"
      "mov r12, r4\n\t"
      "ldr r4, [r4, #16]\n"
      "3:\n\t"
      DW_PAIR("ldrd r8, r9, [r4], #8\n\t", "ldr r11, [r6], #4\n\t", "ldr r11, [r6], #4\n\t", "r11")
      "cmp r4, r12\n\t"
      "bne 3b\n\t"
      "ldrd r8, lr, [r4]\n\t" /* the lone tap's offset, k */
      "ldr r9, [r4, #20]\n\t"
      "cmp r9, #0\n\t" /* CBZ takes only r0..r7: all busy */
      "beq 4f\n\t"
      DW_ODD
      "4:\n\t"
      DW_REQUANT
      "ldr r1, [r4, #24]\n\t"
      "ldrd r2, r3, [r4, #28]\n\t"
      DW_STORE("[r4, #8]")
      : DW_LOOP_OUTS, "+r"(tp)
      :
      : "cc", "memory");
  return wp;
}

/* The last 1-3 channels of a pixel (out_c % 4 != 0): the pack's last group is padded with zero-weight
 * lanes, so one more pass of the same loop computes 4 lanes into a word (the padded lanes read up to 3
 * bytes past the pixel's channels, multiplied by 0) and only the n real ones are stored. */
static void dw_dsp_tail(dw_loop_fn loop, uintptr_t *b, uintptr_t g0, const int32_t *w, int8_t *y, int32_t n) {
  uint32_t word = 0;
  int32_t j;
  b[DW_B_Y] = (uintptr_t)&word - g0;
  b[DW_B_G0] = g0;
  b[DW_B_END] = g0 + 1u;
  (void)loop(b + DW_B_CLAMP, w);
  for (j = 0; j < n; ++j) y[j] = (int8_t)(word >> (8 * j));
}

/* The layer on the pack p->dsp_pack (the packed-weight kernels: a copy of the params naming the pack they
 * built), a k_h x k_w window, with loop (dw_dsp_loop9 for 9 taps, else
 * dw_dsp_loop_any), the interior and border contexts around bi and bb (2 * (k_h * k_w / 2) words before them,
 * DW_B_N from them). Inlined into its instances below, so that the 3x3 one unrolls its window's loops and
 * keeps a small frame, and each image links only the loop its layers run. */
static inline __attribute__((always_inline)) void dw_dsp(const edgeq_depthwise_conv_s8_params *p,
                                                         const int8_t *in, int8_t *out, int32_t k_h,
                                                         int32_t k_w, dw_loop_fn loop, uintptr_t *bi,
                                                         uintptr_t *bb) {
  const int32_t in_h = p->in_h, in_w = p->in_w, c = p->out_c, c4 = c & ~3;
  const int32_t x_row = in_w * c, dh = p->dilation_h, dw = p->dilation_w;
  /* interior windows: 0 <= iy0 < iy_n = in_h - (k_h - 1) dh, 0 <= ix0 < ix_n = in_w - (k_w - 1) dw (as
   * unsigned compares; iy_n, ix_n = 0 when the window does not fit) */
  const int32_t iy_d = in_h - (k_h - 1) * dh, ix_d = in_w - (k_w - 1) * dw;
  const uint32_t iy_n = (uint32_t)(iy_d & ~(iy_d >> 31)), ix_n = (uint32_t)(ix_d & ~(ix_d >> 31));
  const uint32_t zp4 = (uint32_t)(uint8_t)(int8_t)(-p->input_offset) * 0x01010101u;
  uintptr_t *const qi = bi - ((k_h * k_w) & ~1), *const qb = bb - ((k_h * k_w) & ~1); /* tap 0's offset */
  uint32_t zbuf[EDGEQ_DW_ZBUF_WORDS];
  int8_t *y = out; /* the output pixel: written in raster order */
  int32_t b, oy, ox, ky, kx, t;
  for (t = 0; t < (c + 3) >> 2; ++t) zbuf[t] = zp4; /* the loop reads at most c bytes (rounded up) of it */
  for (ky = 0, t = 0; ky < k_h; ++ky) {
    for (kx = 0; kx < k_w; ++kx) qi[t++] = (uintptr_t)(ky * dh * x_row + kx * dw * c);
  }
  bi[DW_B_K] = bb[DW_B_K] = (uintptr_t)(2 * p->rq.output_offset + 1);
  /* clamp?: nonzero when act_min > -128 or act_max < 127 */
  bi[DW_B_CLAMP] = bb[DW_B_CLAMP] = (uint32_t)(p->rq.act_min + 128) | (uint32_t)(127 - p->rq.act_max);
  bi[DW_B_LO] = bb[DW_B_LO] = (uint32_t)(uint8_t)(int8_t)p->rq.act_min * 0x01010101u;
  bi[DW_B_HI] = bb[DW_B_HI] = (uint32_t)(uint8_t)(int8_t)p->rq.act_max * 0x01010101u;
  if (loop != dw_dsp_loop9) { /* what only dw_dsp_loop_any reads */
    bi[DW_B_T0] = (uintptr_t)qi;
    bb[DW_B_T0] = (uintptr_t)qb;
    bi[DW_B_ODD] = bb[DW_B_ODD] = (uintptr_t)((k_h * k_w) & 1);
  }
  for (b = 0; b < p->batches; ++b) {
    const uintptr_t img = (uintptr_t)(in + (size_t)b * (size_t)in_h * (size_t)x_row);
    for (oy = 0; oy < p->out_h; ++oy) {
      const int32_t iy0 = oy * p->stride_h - p->pad_h;
      const int rows_in = (uint32_t)iy0 < iy_n;
      for (ox = 0; ox < p->out_w; ++ox, y += c) {
        const int32_t ix0 = ox * p->stride_w - p->pad_w;
        const uintptr_t o = img + (uintptr_t)(iy0 * x_row + ix0 * c);
        uintptr_t *cx = bi;
        const int32_t *w = p->dsp_pack;
        if (!(rows_in && (uint32_t)ix0 < ix_n)) {
          /* taps outside the input read the input zero point: with acc_init's input_offset * sum(w)
           * they contribute (zp - zp) * w = 0, as the reference's skipped taps */
          cx = bb;
          for (ky = 0, t = 0; ky < k_h; ++ky) {
            const int32_t iy = iy0 + ky * dh;
            for (kx = 0; kx < k_w; ++kx, ++t) {
              const int32_t ix = ix0 + kx * dw;
              qb[t] = ((uint32_t)iy < (uint32_t)in_h && (uint32_t)ix < (uint32_t)in_w ? qi[t]
                                                                                      : (uintptr_t)zbuf - o);
            }
          }
        }
        cx[DW_B_Y] = (uintptr_t)y - o;
        cx[DW_B_END] = o + (uintptr_t)c4;
        cx[DW_B_G0] = o;
        if (c4 > 0) w = loop(cx + DW_B_CLAMP, w);
        if (c4 != c) dw_dsp_tail(loop, cx, o + (uintptr_t)c4, w, y + c4, c - c4);
      }
    }
  }
}

/* dw_dsp's three instances, out of line: 3x3 windows, any other window, any window with its loop chosen at
 * run time (for the kernels that also link the portable path). */
static void __attribute__((noinline)) dw_dsp_3x3(const edgeq_depthwise_conv_s8_params *p, const int8_t *in,
                                                 int8_t *out) {
  uintptr_t cx[2][8 + DW_B_N];
  dw_dsp(p, in, out, 3, 3, dw_dsp_loop9, cx[0] + 8, cx[1] + 8);
}

static void __attribute__((noinline)) dw_dsp_any(const edgeq_depthwise_conv_s8_params *p, const int8_t *in,
                                                 int8_t *out) {
  uintptr_t cx[2][DW_MAX_PAIR_TAPS + DW_B_N];
  dw_dsp(p, in, out, p->k_h, p->k_w, dw_dsp_loop_any, cx[0] + DW_MAX_PAIR_TAPS, cx[1] + DW_MAX_PAIR_TAPS);
}

static void __attribute__((noinline)) dw_dsp_run(const edgeq_depthwise_conv_s8_params *p, const int8_t *in,
                                                 int8_t *out) {
  uintptr_t cx[2][DW_MAX_PAIR_TAPS + DW_B_N];
  dw_dsp(p, in, out, p->k_h, p->k_w, p->k_h * p->k_w == 9 ? dw_dsp_loop9 : dw_dsp_loop_any,
         cx[0] + DW_MAX_PAIR_TAPS, cx[1] + DW_MAX_PAIR_TAPS);
}
#endif

#if EDGEQ_DSP
/* 3x3 windows (the lowering calls it only for those) */
void edgeq_depthwise_conv_s8_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  dw_dsp_3x3(p, in, out);
}

void edgeq_depthwise_conv_s8_dsp_any(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out) {
  dw_dsp_any(p, in, out);
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
    dw_dsp_run(p, in, out);
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

/* Codebook of channel oc (codebook weights): cb_map's, or the layer's one. */
EDGEQ_INLINE const int8_t *dw_codebook(const edgeq_depthwise_conv_s8_params *p, int32_t oc) {
  return p->codebook + (p->cb_map != NULL ? (size_t)p->cb_map[oc] << p->cb_bits : 0u);
}

/* The decode step of the packed-weight kernels: the k_h * k_w taps of channels c0..c0+n-1 as int8 into
 * dst[t * stride + j] (t the tap in raster order, j < n): cb 0, the int4 values of weights_s4 ([tap][out_c],
 * one run of n a tap, edgeq_unpack_s4); cb 1, the codebook entries weights_s4's cb_bits-wide indices name
 * ([out_c][tap], one run of k_h * k_w a channel, edgeq_unpack_cb into tmp, k_h * k_w bytes, then spread over
 * the stride). Always inlined with a constant cb: each entry point links only its own decode. */
static inline __attribute__((always_inline)) void dw_decode(const edgeq_depthwise_conv_s8_params *p, int cb,
                                                            int32_t c0, int32_t n, int8_t *dst, int32_t stride,
                                                            int8_t *tmp) {
  const int32_t taps = p->k_h * p->k_w;
  int32_t t, j;
  if (!cb) {
    for (t = 0; t < taps; ++t) {
      edgeq_unpack_s4(p->weights_s4, t * p->out_c + c0, n, dst + (size_t)t * (size_t)stride);
    }
    return;
  }
  for (j = 0; j < n; ++j) {
    edgeq_unpack_cb(p->weights_s4, p->cb_bits, (c0 + j) * taps, taps, dw_codebook(p, c0 + j), tmp);
    for (t = 0; t < taps; ++t) dst[(size_t)t * (size_t)stride + (size_t)j] = tmp[t];
  }
}

#if EDGEQ_DSP
/* dsp_pack (see depthwise_conv.h) built from dsp_pack_s4 and the decoded weights into pack: per group, its
 * k_h * k_w weight words are decoded in place as tap words (bytes w[t][c0..c3], zero past out_c), then each
 * tap pair's two words rearranged into the pack's pair order. */
static inline __attribute__((always_inline)) void dw_build_pack(const edgeq_depthwise_conv_s8_params *p, int cb,
                                                                int32_t *pack, int8_t *tmp) {
  const int32_t taps = p->k_h * p->k_w, groups = (p->out_c + 3) >> 2;
  const int32_t *src = p->dsp_pack_s4;
  int32_t g, t, j;
  for (g = 0; g < groups; ++g, src += EDGEQ_DW_DSP_GROUP_CONSTS) {
    const int32_t n = p->out_c - 4 * g < 4 ? p->out_c - 4 * g : 4;
    uint32_t *w = (uint32_t *)(pack + 4);
    for (j = 0; j < 4; ++j) *pack++ = src[j]; /* acc_init */
    if (n < 4) {
      for (t = 0; t < taps; ++t) w[t] = 0u;
    }
    dw_decode(p, cb, 4 * g, n, (int8_t *)w, 4, tmp);
    for (t = 0; t + 1 < taps; t += 2) { /* (w[t][c0], w[t][c1], w[t+1][c0], w[t+1][c1]), then c2, c3 */
      const uint32_t a = w[t], b = w[t + 1];
      w[t] = (a & 0xFFFFu) | b << 16;
      w[t + 1] = a >> 16 | (b & 0xFFFF0000u);
    }
    pack += taps; /* an odd count's last tap word stays as decoded */
    for (j = 4; j < EDGEQ_DW_DSP_GROUP_CONSTS; ++j) *pack++ = src[j]; /* shifts, multipliers */
  }
}

/* The DSP path of the packed-weight kernels: the pack built in scratch (dsp_pack_words words, dw_decode's tmp
 * after them), then `body` (dw_dsp_3x3, dw_dsp_any or dw_dsp_run) on a copy of the params naming it. One
 * instance per decode (out of line: the entry points of a decode share it). */
typedef void (*dw_body_fn)(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out);

static inline __attribute__((always_inline)) void dw_packed_dsp(const edgeq_depthwise_conv_s8_params *p,
                                                                const int8_t *in, int8_t *out, void *scratch,
                                                                int cb, dw_body_fn body) {
  edgeq_depthwise_conv_s8_params q = *p;
  dw_build_pack(p, cb, (int32_t *)scratch, (int8_t *)scratch + (size_t)p->dsp_pack_words * 4u);
  q.dsp_pack = (const int32_t *)scratch;
  body(&q, in, out);
}

static void __attribute__((noinline)) dw_packed_dsp_s4(const edgeq_depthwise_conv_s8_params *p, const int8_t *in,
                                                       int8_t *out, void *scratch, dw_body_fn body) {
  dw_packed_dsp(p, in, out, scratch, 0, body);
}

static void __attribute__((noinline)) dw_packed_dsp_cb(const edgeq_depthwise_conv_s8_params *p, const int8_t *in,
                                                       int8_t *out, void *scratch, dw_body_fn body) {
  dw_packed_dsp(p, in, out, scratch, 1, body);
}
#endif

/* The packed-weight kernels (int4: cb 0, codebooks: cb 1), see edgeq_depthwise_conv_s4: on DSP builds with
 * dsp_pack_s4 the DSP loop on the pack built in scratch (dw_packed_dsp), else per block of up to
 * EDGEQ_DW_BLOCK channels their taps decoded into scratch (dw_decode's tmp after them). */
static inline __attribute__((always_inline)) void dw_packed(const edgeq_depthwise_conv_s8_params *p,
                                                            const int8_t *in, int8_t *out, void *scratch, int cb) {
  const int32_t out_c = p->out_c, taps = p->k_h * p->k_w;
  int8_t *wb = (int8_t *)scratch;
  int32_t oc0;
#if EDGEQ_DSP
  if (p->dsp_pack_s4 != NULL) {
    (cb ? dw_packed_dsp_cb : dw_packed_dsp_s4)(p, in, out, scratch, dw_dsp_run);
    return;
  }
#endif
  for (oc0 = 0; oc0 < out_c; oc0 += EDGEQ_DW_BLOCK) {
    const int32_t n = out_c - oc0 < EDGEQ_DW_BLOCK ? out_c - oc0 : EDGEQ_DW_BLOCK;
    dw_decode(p, cb, oc0, n, wb, n, wb + (size_t)taps * (size_t)n);
    dw_pixels(p, in, out, oc0, n, wb, n);
  }
}

void edgeq_depthwise_conv_s4(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  dw_packed(p, in, out, scratch, 0);
}

void edgeq_depthwise_conv_cb(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  dw_packed(p, in, out, scratch, 1);
}

#if EDGEQ_DSP
/* Codebook weights, the DSP path alone (--cpu dsp, dsp_pack_s4 set): the pack built in scratch, then the 3x3
 * body or the any-window one, as edgeq_depthwise_conv_s8_dsp / _dsp_any (no portable kernel linked). */
void edgeq_depthwise_conv_cb_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out,
                                 void *scratch) {
  dw_packed_dsp_cb(p, in, out, scratch, dw_dsp_3x3);
}

void edgeq_depthwise_conv_cb_dsp_any(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out,
                                     void *scratch) {
  dw_packed_dsp_cb(p, in, out, scratch, dw_dsp_any);
}
#endif
