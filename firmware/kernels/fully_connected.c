#include "fully_connected.h"
#include "fully_connected_mve.h"

/* The DSP path is GNU inline assembly (GCC, clang, armclang); other compilers build the portable path. */
#if EDGEQ_DSP && defined(__GNUC__)
#define EDGEQ_FC_DSP 1
#else
#define EDGEQ_FC_DSP 0
#endif

/* Steps of four inputs between two separations of the row-pair sums: 128 steps + 3 tail inputs = 515
 * inputs, |A| <= 515 * 128 * 127 < 2^23, so 256 * A stays inside int32 (see the lowering). */
#define EDGEQ_FC_CHUNK 128

#if EDGEQ_FC_DSP
/* One step: x word (x0 x1 x2 x3) -> xe = (x0, x2), xo = (x1, x3) (in xw); the four weight words are
 * A(x0,x2) A(x1,x3) B(x0,x2) B(x1,x3). Raw SMLAD with a word gives A_r + 256 A_r+1, with its SXTB16 A_r. */
#define FC_STEP() \
  __asm__ volatile( \
      "ldr %[xw], [%[xp]], #4\n\t" \
      "sxtb16 %[xe], %[xw]\n\t" \
      "sxtb16 %[xw], %[xw], ror #8\n\t" \
      "ldrd %[w0], %[w1], [%[wp]], #8\n\t" \
      "smlad %[ra], %[xe], %[w0], %[ra]\n\t" \
      "smlad %[ra], %[xw], %[w1], %[ra]\n\t" \
      "sxtb16 %[w0], %[w0]\n\t" \
      "sxtb16 %[w1], %[w1]\n\t" \
      "smlad %[ea], %[xe], %[w0], %[ea]\n\t" \
      "smlad %[ea], %[xw], %[w1], %[ea]\n\t" \
      "ldrd %[w0], %[w1], [%[wp]], #8\n\t" \
      "smlad %[rb], %[xe], %[w0], %[rb]\n\t" \
      "smlad %[rb], %[xw], %[w1], %[rb]\n\t" \
      "sxtb16 %[w0], %[w0]\n\t" \
      "sxtb16 %[w1], %[w1]\n\t" \
      "smlad %[eb], %[xe], %[w0], %[eb]\n\t" \
      "smlad %[eb], %[xw], %[w1], %[eb]\n\t" \
      : [xp] "+r"(xp), [wp] "+r"(w), [ra] "+r"(raw_a), [ea] "+r"(ext_a), [rb] "+r"(raw_b), \
        [eb] "+r"(ext_b), [xw] "=&r"(xw), [xe] "=&r"(xe), [w0] "=&r"(w0), [w1] "=&r"(w1) \
      : \
      : "memory")
#endif

/* The low and high int16 lanes of a packed word (v = w[r] + 256 w[r+1]), and the low byte of a lane as
 * int8 (w[r]). */
#define FC_LO16(wd) ((int32_t)(int16_t)(uint16_t)((uint32_t)(wd) & 0xFFFFu))
#define FC_HI16(wd) ((int32_t)(wd) >> 16)
#define FC_LO8(v) ((int32_t)(int8_t)(uint8_t)((uint32_t)(v) & 0xFFu))

/* edgeq_requant out of line: the general case (TFLM's double rounding, per-channel, sparse). */
static EDGEQ_NOINLINE int32_t fc_requant_other(int32_t x, int32_t m, int32_t shift, int32_t rounding) {
  return edgeq_requant(x, m, shift, rounding);
}

/* Requantize, clamp and store rows o..o+3 (those that exist and are not sparse padding). Out of line:
 * with its own registers, and the params read into locals once (stores through int8_t may alias *p). */
static EDGEQ_NOINLINE void fc_store(const edgeq_fully_connected_s8_params *p, const int32_t *a, int32_t o, int8_t *y) {
  const int32_t sparse = p->sparse, rounding = p->rq.rounding, pc = p->per_channel;
  const int32_t out_off = p->rq.output_offset, act_min = p->rq.act_min, act_max = p->rq.act_max;
  const int32_t *bias = p->bias, *mult = p->mult, *shift = p->shift;
  const int32_t end = o + 4 < p->out_features ? o + 4 : p->out_features;
  int32_t j;
  if (!pc && !sparse && rounding == EDGEQ_ROUND_SINGLE && shift[0] < 0) {
    /* edgeq_mul_qm_single with total = 31 - shift = 32 + s >= 32: (x*m + 2^(total-1)) >> total is the
     * high word of x*m + 2^(31+s), shifted right by s (one SMLAL and one ASR). */
    const int32_t m = mult[0], s = -1 - shift[0];
    const int64_t half = (int64_t)1 << (31 + s);
    for (j = o; j < end; ++j) {
      int32_t acc = (int32_t)((uint32_t)bias[j] + (uint32_t)*a++);
      acc = ((int32_t)(((int64_t)acc * (int64_t)m + half) >> 32) >> s) + out_off;
      y[j] = (int8_t)edgeq_clamp_i32(acc, act_min, act_max);
    }
    return;
  }
  for (j = o; j < end; ++j, ++a) {
    const int32_t c = pc ? j : 0;
    int32_t acc = (int32_t)((uint32_t)bias[j] + (uint32_t)*a);
    if (j & sparse) continue;
    acc = fc_requant_other(acc, mult[c], shift[c], rounding) + out_off;
    y[j >> sparse] = (int8_t)edgeq_clamp_i32(acc, act_min, act_max);
  }
}

void edgeq_fully_connected_s8(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t rows = p->out_features, steps = p->in_features >> 2, tail = p->in_features & 3;
  const int32_t sparse = p->sparse;
  int32_t b, o, r;
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
    for (o = 0; o < rows; o += 4) {
      const int8_t *xp = x;
      int32_t a[4] = {0, 0, 0, 0}, left = steps;
      for (;;) {
        int32_t n = left < EDGEQ_FC_CHUNK ? left : EDGEQ_FC_CHUNK;
        uint32_t raw_a = 0, raw_b = 0;
        int32_t ext_a = 0, ext_b = 0;
#if EDGEQ_FC_DSP
        int32_t xw, xe, w0, w1;
        left -= n;
        if (n > 0) {
          /* two steps per iteration; an odd count enters at the second */
          int32_t pairs = (n + 1) >> 1;
          if (n & 1) goto second;
          do {
            FC_STEP();
          second:
            FC_STEP();
          } while (--pairs > 0);
        }
#else
        for (left -= n; n > 0; --n) {
          const int32_t x0 = xp[0], x1 = xp[1], x2 = xp[2], x3 = xp[3];
          int32_t v, u;
          v = FC_LO16(w[0]); u = FC_HI16(w[0]);
          raw_a += (uint32_t)(x0 * v + x2 * u); ext_a += x0 * FC_LO8(v) + x2 * FC_LO8(u);
          v = FC_LO16(w[1]); u = FC_HI16(w[1]);
          raw_a += (uint32_t)(x1 * v + x3 * u); ext_a += x1 * FC_LO8(v) + x3 * FC_LO8(u);
          v = FC_LO16(w[2]); u = FC_HI16(w[2]);
          raw_b += (uint32_t)(x0 * v + x2 * u); ext_b += x0 * FC_LO8(v) + x2 * FC_LO8(u);
          v = FC_LO16(w[3]); u = FC_HI16(w[3]);
          raw_b += (uint32_t)(x1 * v + x3 * u); ext_b += x1 * FC_LO8(v) + x3 * FC_LO8(u);
          xp += 4;
          w += 4;
        }
#endif
        if (left == 0) {
          for (r = 0; r < tail; ++r) {
            const int32_t xv = xp[r], v = FC_LO16(w[r]), u = FC_HI16(w[r]);
            raw_a += (uint32_t)(xv * v); ext_a += xv * FC_LO8(v);
            raw_b += (uint32_t)(xv * u); ext_b += xv * FC_LO8(u);
          }
        }
        a[0] += ext_a; a[1] += (int32_t)(raw_a - (uint32_t)ext_a) >> 8;
        a[2] += ext_b; a[3] += (int32_t)(raw_b - (uint32_t)ext_b) >> 8;
        if (left == 0) break;
      }
      w += tail;
      fc_store(p, a, o, y);
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
