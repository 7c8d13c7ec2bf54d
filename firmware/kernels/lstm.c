#include "lstm.h"

#include "int16_sigmoid.h"

#include <string.h>

/* The DSP path is GNU inline assembly (GCC, clang, armclang); other compilers build the portable path. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP && defined(__GNUC__)
#define EDGEQ_LSTM_DSP 1
#else
#define EDGEQ_LSTM_DSP 0
#endif

/* ---- gemmlowp int16 fixed point (fixedpoint.h), scalar ------------------------------------------- */

#define Q16(x) ((int16_t)(x)) /* int16 wrap-around, as gemmlowp's int16 Add / Sub / Neg */

static int16_t q_srdhm(int16_t a, int16_t b) {
  if (a == b && a == INT16_MIN) return INT16_MAX;
  {
    const int32_t ab = (int32_t)a * (int32_t)b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
  }
}

static int16_t q_rdbpot(int16_t x, int exponent) {
  const int32_t mask = (1 << exponent) - 1;
  const int32_t remainder = (int32_t)x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (int16_t)(((int32_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

/* SaturatingRoundingMultiplyByPOT<exponent> on int16 */
static int16_t q_mul_pot(int16_t x, int exponent) {
  if (exponent > 0) {
    const int32_t threshold = (1 << (15 - exponent)) - 1;
    if (x > threshold) return INT16_MAX;
    if (x < -threshold) return INT16_MIN;
    return (int16_t)((int32_t)x * (1 << exponent));
  }
  return exponent < 0 ? q_rdbpot(x, -exponent) : x;
}

static int16_t q_sat_add(int16_t a, int16_t b) {
  return (int16_t)edgeq_clamp_i32((int32_t)a + (int32_t)b, INT16_MIN, INT16_MAX);
}

static int16_t q_half_sum(int16_t a, int16_t b) {
  const int32_t sum = (int32_t)a + (int32_t)b;
  return (int16_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
}

/* RescaleConstantInitializer<int16>: the int32 constants of fixedpoint.h rounded to 16 bits */
#define K_EXP_M1_8 ((int16_t)28918)   /* 1895147668: exp(-1/8) */
#define K_1_3 ((int16_t)10923)        /* 715827883: 1/3 */
#define K_48_17 ((int16_t)23130)      /* 1515870810: 48/17 in Q2.13 */
#define K_NEG_32_17 ((int16_t)-15420) /* -1010580540: -32/17 in Q2.13 */

/* exp(a) for a in [-1/4, 0), Q0.15 */
static int16_t q_exp_quarter(int16_t a) {
  const int16_t x = Q16(a + (1 << 12));
  const int16_t x2 = q_srdhm(x, x);
  const int16_t x3 = q_srdhm(x2, x);
  const int16_t x4 = q_srdhm(x2, x2);
  const int16_t x4_4 = q_mul_pot(x4, -2);
  const int16_t poly = q_mul_pot(Q16(q_srdhm(Q16(x4_4 + x3), K_1_3) + x2), -1);
  return q_sat_add(K_EXP_M1_8, q_srdhm(K_EXP_M1_8, Q16(x + poly)));
}

/* exp(a) for a <= 0 given with ib integer bits, Q0.15 */
static int16_t q_exp_negative(int16_t a, int ib) {
  static const int16_t barrel[7] = {25520, 19875, 12055, 4435, 600, 11, 0}; /* exp(-2^e), e = -2..4 */
  const int fb = 15 - ib;
  const int16_t quarter = (int16_t)(1 << (fb - 2));
  const int16_t mod = Q16((a & (quarter - 1)) - quarter);
  int16_t result = q_exp_quarter(q_mul_pot(mod, ib));
  const int16_t remainder = Q16(mod - a);
  int e;
  for (e = -2; e <= 4; ++e) {
    if (ib > e && (remainder & (1 << (fb + e)))) result = q_srdhm(result, barrel[e + 2]);
  }
  if (ib > 5 && a < -(1 << (20 - ib))) result = 0; /* below -32: rdbpot(-(1 << (36 - ib)), 16) */
  return a == 0 ? INT16_MAX : result;
}

/* Newton-Raphson reciprocal of half_denominator (Q0.15) in Q2.13 */
static int16_t q_newton(int16_t half_den) {
  int16_t x = Q16(K_48_17 + q_srdhm(half_den, K_NEG_32_17));
  int i;
  for (i = 0; i < 3; ++i) {
    const int16_t one_minus = Q16((1 << 13) - q_srdhm(half_den, x));
    x = Q16(x + q_mul_pot(q_srdhm(x, one_minus), 2));
  }
  return x;
}

int16_t edgeq_lstm_sigmoid_q3(int16_t a) {
  /* logistic<3>: 1 / (1 + exp(-|a|)), mirrored for a < 0 */
  const int16_t abs_a = a > 0 ? a : Q16(-a);
  const int16_t e = q_exp_negative(Q16(-abs_a), 3);
  const int16_t pos = q_mul_pot(q_newton(q_half_sum(e, INT16_MAX)), 1);
  if (a == 0) return 16384;
  return a > 0 ? pos : Q16(INT16_MAX - pos);
}

int16_t edgeq_lstm_tanh(int16_t a, int32_t int_bits) {
  /* tanh<ib>: (1 - exp(-2|a|)) / (1 + exp(-2|a|)), sign restored */
  const int16_t n = a < 0 ? a : Q16(-a);
  const int16_t e = q_exp_negative(n, (int)int_bits + 1);
  const int16_t t = q_mul_pot(Q16(q_newton(q_half_sum(e, INT16_MAX)) - (1 << 13)), 2);
  if (a == 0) return 0;
  return a < 0 ? Q16(-t) : t;
}

/* ---- the cell ------------------------------------------------------------------------------------ */

#if EDGEQ_LSTM_DSP
static inline uint32_t lstm_sxtb16(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
  return r;
}
static inline uint32_t lstm_sxtb16_ror8(uint32_t x) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
static inline int32_t lstm_smlad(uint32_t a, uint32_t b, int32_t acc) {
  int32_t r;
  __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
  return r;
}
#endif

/* sum_k x[k] * w[k] (|sum| < 2^31 for any n < 2^17) */
static int32_t lstm_dot(const int8_t *x, const int8_t *w, int32_t n) {
  int32_t acc = 0, k = 0;
#if EDGEQ_LSTM_DSP
  for (; k + 4 <= n; k += 4) {
    uint32_t xw, ww;
    memcpy(&xw, x + k, 4);
    memcpy(&ww, w + k, 4);
    acc = lstm_smlad(lstm_sxtb16(xw), lstm_sxtb16(ww), acc);
    acc = lstm_smlad(lstm_sxtb16_ror8(xw), lstm_sxtb16_ror8(ww), acc);
  }
#endif
  for (; k < n; ++k) acc += (int32_t)x[k] * (int32_t)w[k];
  return acc;
}

void edgeq_lstm_s8(const edgeq_lstm_s8_params *p, const int8_t *in, int8_t *out, void *scratch) {
  const int32_t n_in = p->n_input, n_cell = p->n_cell, rounding = p->rounding;
  const int tflm = p->mode == EDGEQ_LSTM_TFLM;
  int16_t *cell = (int16_t *)scratch;
  int32_t b, t, j, g;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *h = p->h0 + (size_t)b * (size_t)n_cell;
    memcpy(cell, p->c0 + (size_t)b * (size_t)n_cell, (size_t)n_cell * sizeof(int16_t));
    for (t = 0; t < p->time_steps; ++t) {
      const size_t row = (size_t)b * (size_t)p->batch_stride + (size_t)t * (size_t)p->step_stride;
      const int8_t *x = in + row * (size_t)n_in;
      int8_t *y = out + row * (size_t)n_cell;
      for (j = 0; j < n_cell; ++j) {
        int16_t gate[4];
        int32_t c, o_th;
        for (g = 0; g < 4; ++g) {
          const size_t r = (size_t)g * (size_t)n_cell + (size_t)j;
          int32_t a = edgeq_requant(p->bias_in[r] + lstm_dot(x, p->w_in + r * (size_t)n_in, n_in),
                                    p->mult[2 * g], p->shift[2 * g], rounding);
          a = edgeq_clamp_i32(a, INT16_MIN, INT16_MAX);
          a += edgeq_requant(p->bias_rec[r] + lstm_dot(h, p->w_rec + r * (size_t)n_cell, n_cell),
                             p->mult[2 * g + 1], p->shift[2 * g + 1], rounding);
          a = edgeq_clamp_i32(a, INT16_MIN, INT16_MAX);
          if (tflm) {
            gate[g] = g == 2 ? edgeq_tanh_s16_one((int16_t)a, 3, 0, p->sigmoid_table)
                             : edgeq_logistic_s16_one((int16_t)a, 3, 0, p->sigmoid_table);
          } else {
            gate[g] = g == 2 ? edgeq_lstm_tanh((int16_t)a, 3) : edgeq_lstm_sigmoid_q3((int16_t)a);
          }
        }
        if (tflm) {
          c = edgeq_clamp_i32(edgeq_mul_qm_double((int32_t)gate[1] * (int32_t)cell[j], p->fc_mult, p->fc_shift), INT16_MIN, INT16_MAX);
          c += edgeq_clamp_i32(edgeq_mul_qm_double((int32_t)gate[0] * (int32_t)gate[2], p->ig_mult, p->ig_shift), INT16_MIN, INT16_MAX);
        } else {
          c = edgeq_rdbpot((int32_t)gate[1] * (int32_t)cell[j], 15);
          c += edgeq_rdbpot((int32_t)gate[0] * (int32_t)gate[2], p->cell_shift);
        }
        c = edgeq_clamp_i32(c, INT16_MIN, INT16_MAX);
        if (p->cell_clip > 0) c = edgeq_clamp_i32(c, -p->cell_clip, p->cell_clip);
        cell[j] = (int16_t)c;
        o_th = (int32_t)gate[3] * (int32_t)(tflm ? edgeq_tanh_s16_one((int16_t)c, p->tanh_mult, p->tanh_shift,
                                                                      p->sigmoid_table)
                                                 : edgeq_lstm_tanh((int16_t)c, p->cell_int_bits));
        y[j] = (int8_t)edgeq_clamp_i32(edgeq_requant(o_th, p->hidden_mult, p->hidden_shift, rounding) +
                                       p->hidden_zp, -128, 127);
      }
      h = y;
    }
  }
}
