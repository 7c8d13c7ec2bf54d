#include "fully_connected.h"
#include "fully_connected_mve.h"

/* The DSP path is GNU inline assembly (GCC, clang, armclang); other compilers build the portable path. */
#if EDGEQ_DSP && defined(__GNUC__)
#define EDGEQ_FC_DSP 1
#else
#define EDGEQ_FC_DSP 0
#endif

/* Rows per pass (FC_GROUP_ROWS in the lowering): four row pairs share each widened input word. The lowering
 * pads the rows to a multiple of it with zero rows, which are never stored. */
#define EDGEQ_FC_GROUP 8

/* Steps of four inputs between two separations of the row-pair sums: 128 steps + 3 tail inputs = 515
 * inputs, |A| <= 515 * 128 * 127 < 2^23, so 256 * A stays inside int32 (see the lowering). */
#define EDGEQ_FC_CHUNK 128

#if EDGEQ_FC_DSP
/* One step's input word (x0 x1 x2 x3) -> r10 = (x0, x2), r11 = (x1, x3); r8 walks the input. */
#define FC_X                                   \
  "ldr r11, [r8], #4\n\t"                      \
  "sxtb16 r10, r11\n\t"                        \
  "sxtb16 r11, r11, ror #8\n\t"
/* One row pair's two weight words P(x0,x2) P(x1,x3) (r9 walks them), lanes v = w[r+1] + 256 w[r]: raw SMLAD
 * gives A_r+1 + 256 A_r into RAW, the SMLAD of their SXTB16 A_r+1 into EXT. */
#define FC_PAIR(RAW, EXT)                      \
  "ldrd r12, lr, [r9], #8\n\t"                 \
  "smlad " RAW ", r10, r12, " RAW "\n\t"       \
  "smlad " RAW ", r11, lr, " RAW "\n\t"        \
  "sxtb16 r12, r12\n\t"                        \
  "sxtb16 lr, lr\n\t"                          \
  "smlad " EXT ", r10, r12, " EXT "\n\t"       \
  "smlad " EXT ", r11, lr, " EXT "\n\t"
/* Separate a pair's sums (the low byte of each lane is row r+1, the high byte row r): RAW becomes
 * (raw - ext) / 256 = A_r, EXT is A_r+1. */
#define FC_SEP(RAW, EXT) "sub " RAW ", " RAW ", " EXT "\n\t" "asr " RAW ", " RAW ", #8\n\t"
#define FC_STEP8 FC_X FC_PAIR("r0", "r1") FC_PAIR("r2", "r3") FC_PAIR("r4", "r5") FC_PAIR("r6", "r7")

/* n >= 1 steps of a group from x, weights w: the sums of the group's rows (from 0) into s[0..], row after
 * row; returns w advanced. Two steps per iteration, an odd n enters at the second; the end of the
 * input and s are kept on the stack (every register is taken). */
#define FC_LOOP(STEP, SEP, STM)                                                                                 \
  register int32_t r0 __asm__("r0"), r1 __asm__("r1"), r2 __asm__("r2"), r3 __asm__("r3");                 \
  register int32_t r4 __asm__("r4"), r5 __asm__("r5"), r6 __asm__("r6"), r7 __asm__("r7");                 \
  register const int8_t *xp __asm__("r8") = x;                                                             \
  register const int32_t *wp __asm__("r9") = w;                                                            \
  register int32_t r10 __asm__("r10"), r11 __asm__("r11");                                                 \
  register int32_t r12 __asm__("r12") = n;                                                                 \
  register int32_t *lr __asm__("lr") = s;                                                                  \
  __asm__ volatile("add r11, r8, r12, lsl #2\n\t"                                                          \
                   "strd r11, lr, [sp, #-8]!\n\t"                                                          \
                   "movs r0, #0\n\t"                                                                       \
                   "movs r1, #0\n\t"                                                                       \
                   "movs r2, #0\n\t"                                                                       \
                   "movs r3, #0\n\t"                                                                       \
                   "movs r4, #0\n\t"                                                                       \
                   "movs r5, #0\n\t"                                                                       \
                   "movs r6, #0\n\t"                                                                       \
                   "movs r7, #0\n\t"                                                                       \
                   "tst r12, #1\n\t"                                                                       \
                   "bne 2f\n"                                                                              \
                   "1:\n\t" STEP "2:\n\t" STEP                                                             \
                   "ldr r12, [sp]\n\t"                                                                     \
                   "cmp r8, r12\n\t"                                                                       \
                   "blo 1b\n\t"                                                                            \
                   SEP                                                                                     \
                   "ldr lr, [sp, #4]\n\t"                                                                  \
                   "add sp, sp, #8\n\t"                                                                    \
                   "stmia lr, " STM "\n\t"                                                                 \
                   : "=&r"(r0), "=&r"(r1), "=&r"(r2), "=&r"(r3), "=&r"(r4), "=&r"(r5), "=&r"(r6), "=&r"(r7), \
                     "+r"(xp), "+r"(wp), "=&r"(r10), "=&r"(r11), "+r"(r12), "+r"(lr)                       \
                   :                                                                                       \
                   : "cc", "memory");                                                                      \
  return wp

static EDGEQ_NOINLINE const int32_t *fc_steps8(const int8_t *x, const int32_t *w, int32_t n, int32_t *s) {
  FC_LOOP(FC_STEP8, FC_SEP("r0", "r1") FC_SEP("r2", "r3") FC_SEP("r4", "r5") FC_SEP("r6", "r7"),
          "{r0, r1, r2, r3, r4, r5, r6, r7}");
}
#endif

/* The low and high int16 lanes of a packed word (v = w[r+1] + 256 w[r]), the low byte of a lane as int8
 * (w[r+1]) and the rest (w[r]). */
#define FC_LO16(wd) ((int32_t)(int16_t)(uint16_t)((uint32_t)(wd) & 0xFFFFu))
#define FC_HI16(wd) ((int32_t)(wd) >> 16)
#define FC_LO8(v) ((int32_t)(int8_t)(uint8_t)((uint32_t)(v) & 0xFFu))
#define FC_HI8(v) (((v) - FC_LO8(v)) >> 8)

#define FC_PAIRS (EDGEQ_FC_GROUP / 2)

#if !EDGEQ_FC_DSP
/* n steps of a group (portable): the sums of its rows into s, as fc_steps8. */
static const int32_t *fc_steps_c(const int8_t *x, const int32_t *w, int32_t n, int32_t *s) {
  uint32_t raw[FC_PAIRS];
  int32_t ext[FC_PAIRS], j;
  for (j = 0; j < FC_PAIRS; ++j) raw[j] = 0, ext[j] = 0;
  for (; n > 0; --n, x += 4) {
    const int32_t x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    for (j = 0; j < FC_PAIRS; ++j, w += 2) {
      const int32_t v0 = FC_LO16(w[0]), u0 = FC_HI16(w[0]), v1 = FC_LO16(w[1]), u1 = FC_HI16(w[1]);
      raw[j] += (uint32_t)(x0 * v0 + x2 * u0 + x1 * v1 + x3 * u1);
      ext[j] += x0 * FC_LO8(v0) + x2 * FC_LO8(u0) + x1 * FC_LO8(v1) + x3 * FC_LO8(u1);
    }
  }
  for (j = 0; j < FC_PAIRS; ++j) {
    s[2 * j] = (int32_t)(raw[j] - (uint32_t)ext[j]) >> 8;
    s[2 * j + 1] = ext[j];
  }
  return w;
}
#endif

/* edgeq_requant out of line: the general case (TFLM's double rounding, per-channel, sparse). */
static EDGEQ_NOINLINE int32_t fc_requant_other(int32_t x, int32_t m, int32_t shift, int32_t rounding) {
  return edgeq_requant(x, m, shift, rounding);
}

/* The accumulators a[0..7] (sums over the inputs, bias not included) of one group of rows for the input x,
 * chunk by chunk; returns w past the group. */
static const int32_t *fc_group(const edgeq_fully_connected_s8_params *p, const int8_t *x, const int32_t *w,
                               int32_t *a) {
  const int32_t tail = p->in_features & 3;
  int32_t left = p->in_features >> 2, j, r;
  int32_t *s = a, sum[EDGEQ_FC_GROUP];
  for (j = 0; j < EDGEQ_FC_GROUP; ++j) a[j] = 0;
  while (left > 0) {
    const int32_t n = left < EDGEQ_FC_CHUNK ? left : EDGEQ_FC_CHUNK;
    left -= n;
#if EDGEQ_FC_DSP
    w = fc_steps8(x, w, n, s);
#else
    w = fc_steps_c(x, w, n, s);
#endif
    x += 4 * n;
    if (s != a) {
      for (j = 0; j < EDGEQ_FC_GROUP; ++j) a[j] += s[j];
    }
    s = sum;
  }
  for (r = 0; r < tail; ++r, w += FC_PAIRS / 2) {
    for (j = 0; j < FC_PAIRS; ++j) {
      const int32_t v = j & 1 ? FC_HI16(w[j >> 1]) : FC_LO16(w[j >> 1]);
      a[2 * j] += x[r] * FC_HI8(v);
      a[2 * j + 1] += x[r] * FC_LO8(v);
    }
  }
  return w;
}

/* The high word of a * m, plus r (SMMLA). */
EDGEQ_INLINE int32_t fc_mulhi_add(int32_t a, int32_t m, int32_t r) {
#if EDGEQ_FC_DSP
  int32_t v;
  __asm__("smmla %0, %1, %2, %3" : "=r"(v) : "r"(a), "r"(m), "r"(r));
  return v;
#else
  return (int32_t)(((int64_t)a * (int64_t)m) >> 32) + r;
#endif
}

/* Requantize, clamp and store rows o..end-1 of a group (accumulators a, from row o). */
static EDGEQ_NOINLINE void fc_store(const edgeq_fully_connected_s8_params *p, const int32_t *a, int32_t o,
                                    int32_t end, int8_t *y) {
  const int32_t sparse = p->sparse, rounding = p->rq.rounding, pc = p->per_channel;
  const int32_t out_off = p->rq.output_offset, act_min = p->rq.act_min, act_max = p->rq.act_max;
  const int32_t *bias = p->bias + o, *mult = p->mult, *shift = p->shift;
  int32_t j;
  if (!pc && !sparse && rounding == EDGEQ_ROUND_SINGLE && shift[0] < 0) {
    /* LiteRT's single rounding, total shift 32 + sh (sh = -1 - shift >= 0): (x*m + 2^(31+sh)) >> (32+sh)
     * = (floor(x*m / 2^32) + 2^(sh-1)) >> sh for sh >= 1 (nested floors), so with the output offset
     * (hi(x*m) + rb) >> sh, rb = 2^(sh-1) + out_off * 2^sh; for sh = 0 the rounded high word + out_off */
    const int32_t m = mult[0], sh = -1 - shift[0];
    const int32_t n = end - o;
    if (sh == 0) {
      for (j = 0; j < n; ++j) {
        const int32_t acc = (int32_t)((uint32_t)bias[j] + (uint32_t)a[j]);
        y[j] = (int8_t)edgeq_clamp_i32(
            (int32_t)(((int64_t)acc * (int64_t)m + ((int64_t)1 << 31)) >> 32) + out_off, act_min, act_max);
      }
    } else {
      const int32_t rb = (int32_t)((1u << (sh - 1)) + ((uint32_t)out_off << sh));
      for (j = 0; j < n; ++j) {
        const int32_t acc = (int32_t)((uint32_t)bias[j] + (uint32_t)a[j]);
        y[j] = (int8_t)edgeq_clamp_i32(fc_mulhi_add(acc, m, rb) >> sh, act_min, act_max);
      }
    }
    return;
  }
  for (j = o; j < end; ++j, ++a, ++bias) {
    const int32_t c = pc ? j : 0;
    const int32_t acc = (int32_t)((uint32_t)*bias + (uint32_t)*a);
    if (sparse && !(j & 1)) continue; /* sparse: rows 2o are the zero rows, output o is row 2o + 1 */
    y[(j >> sparse) - (o >> sparse)] = (int8_t)edgeq_clamp_i32(
        fc_requant_other(acc, mult[c], shift[c], rounding) + out_off, act_min, act_max);
  }
}

void edgeq_fully_connected_s8(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t rows = p->out_features, sparse = p->sparse;
  int32_t b, o;
#if EDGEQ_MVE
  if (p->weights_s8 != NULL) {
    fc_mve(p, in, out);
    return;
  }
#endif
  for (b = 0; b < p->batches; ++b) {
    const int8_t *x = in + (size_t)b * (size_t)p->in_features;
    int8_t *y = out + (size_t)b * (size_t)(rows >> sparse);
    const int32_t *w = p->weights;
    for (o = 0; o < rows; o += EDGEQ_FC_GROUP) {
      int32_t a[EDGEQ_FC_GROUP];
      w = fc_group(p, x, w, a);
      fc_store(p, a, o, o + EDGEQ_FC_GROUP < rows ? o + EDGEQ_FC_GROUP : rows, y + (o >> sparse));
    }
  }
}

void edgeq_fully_connected_s4(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  const int32_t in_f = p->in_features, rows = p->out_features, batches = p->batches;
  int8_t *w = (int8_t *)scratch;
  int32_t o, b, i;
  for (o = 0; o < rows; ++o) {
    const int32_t c = p->per_channel ? o : 0;
    const int32_t m = p->mult[c], sft = p->shift[c], bias = p->bias[o];
    if (p->codebook != NULL)
      edgeq_unpack_cb4(p->weights_s4, o * in_f, in_f, p->codebook + 16 * o, w);
    else
      edgeq_unpack_s4(p->weights_s4, o * in_f, in_f, w);
    for (b = 0; b < batches; ++b) {
      const int8_t *x = in + (size_t)b * (size_t)in_f;
      uint32_t acc = (uint32_t)bias; /* the reference's int32 sum, wrapping like the folded bias */
      for (i = 0; i < in_f; ++i) acc += (uint32_t)((int32_t)x[i] * (int32_t)w[i]);
      out[(size_t)b * (size_t)rows + (size_t)o] = (int8_t)edgeq_requant_clamp(&p->rq, (int32_t)acc, m, sft);
    }
  }
}
