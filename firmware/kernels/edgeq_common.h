/* edgeq: helpers shared by the kernels (portable C99): integer arithmetic and requantization, window
 * geometry, unaligned loads, float32 clamps and dot products. The DSP-extension helpers are in edgeq_dsp.h,
 * gemmlowp's fixed-point functions in edgeq_fixedpoint.h.
 *
 * Two requantization flavours exist in the TFLite family and they disagree in the last bit:
 *  - double rounding (gemmlowp, TFLM, CMSIS-NN): rounding doubling high multiply, then a rounding
 *    right shift;
 *  - single rounding (TFLITE_SINGLE_ROUNDING; LiteRT uses it in some reference kernels): one 64-bit
 *    multiply, add half, shift once.
 * Every kernel that requantizes takes a `rounding` flag (EDGEQ_ROUND_SINGLE / EDGEQ_ROUND_DOUBLE) chosen
 * at generation time per op.
 */
#ifndef EDGEQ_COMMON_H
#define EDGEQ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define EDGEQ_ROUND_DOUBLE 0
#define EDGEQ_ROUND_SINGLE 1

/* A compile-time check (C11 _Static_assert, or an array of negative size in C99): `name` is an identifier
 * that says what failed. */
#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define EDGEQ_STATIC_ASSERT(name, cond) _Static_assert(cond, #name)
#else
#define EDGEQ_STATIC_ASSERT(name, cond) typedef char name[(cond) ? 1 : -1]
#endif

/* Scratch memory. A kernel that takes a `scratch` buffer states its size in its header as a macro
 * <kernel>_scratch_bytes(...) of fields of its params struct (the macro's parameters are named after
 * them). The generator plans each call's scratch in the arena and checks here, at compile time, that
 * the planned bytes cover what the kernel says it needs: `name` identifies the call. */
#define EDGEQ_SCRATCH_CHECK(name, planned_bytes, needed_bytes) \
  EDGEQ_STATIC_ASSERT(name, (planned_bytes) >= (needed_bytes))

/* 1 when the core has the DSP extension (SIMD multiply-accumulates, SXTB16, SMMULR: edgeq_dsp.h): the
 * kernels with a DSP path take it then. A library generated for --cpu dsp requires it. */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define EDGEQ_DSP 1
#else
#define EDGEQ_DSP 0
#endif

/* 1 when the core has Helium, the M-profile Vector Extension with integer lanes (Cortex-M55/M85,
 * -mcpu=cortex-m55): the kernels with an MVE path take it then (helpers in edgeq_mve.h). */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define EDGEQ_MVE 1
#else
#define EDGEQ_MVE 0
#endif

#if defined(__GNUC__)
#define EDGEQ_INLINE static inline __attribute__((always_inline))
#else
#define EDGEQ_INLINE static inline
#endif

/* A helper function defined in a header: static, so the compiler inlines it or not exactly as it would
 * a file's own static function, and not reported as unused in a file that includes it without calling it. */
#if defined(__GNUC__)
#define EDGEQ_HELPER static __attribute__((unused))
#define EDGEQ_NOINLINE __attribute__((noinline))
#else
#define EDGEQ_HELPER static
#define EDGEQ_NOINLINE
#endif

EDGEQ_INLINE int32_t edgeq_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
EDGEQ_INLINE int32_t edgeq_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }
EDGEQ_INLINE int32_t edgeq_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul */
EDGEQ_INLINE int32_t edgeq_srdhm(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  {
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1LL << 30) : (1LL - (1LL << 30));
    return (int32_t)((ab + nudge) / (1LL << 31));
  }
}

/* gemmlowp RoundingDivideByPOT: round half away from zero */
EDGEQ_INLINE int32_t edgeq_rdbpot(int32_t x, int exponent) {
  const int32_t mask = (int32_t)((1LL << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

EDGEQ_INLINE int32_t edgeq_mul_qm_double(int32_t x, int32_t m, int32_t shift) {
  const int32_t left = shift > 0 ? shift : 0;
  const int32_t right = shift > 0 ? 0 : -shift;
  return edgeq_rdbpot(edgeq_srdhm((int32_t)((uint32_t)x << left), m), right);
}

EDGEQ_INLINE int32_t edgeq_mul_qm_single(int32_t x, int32_t m, int32_t shift) {
  const int32_t total = 31 - shift;
  const int64_t round = (int64_t)1 << (total - 1);
  return (int32_t)(((int64_t)x * (int64_t)m + round) >> total);
}

/* MultiplyByQuantizedMultiplier in the flavour the op was generated for. */
EDGEQ_INLINE int32_t edgeq_requant(int32_t x, int32_t m, int32_t shift, int32_t rounding) {
  return rounding == EDGEQ_ROUND_SINGLE ? edgeq_mul_qm_single(x, m, shift) : edgeq_mul_qm_double(x, m, shift);
}

/* The output stage of every requantizing kernel: out = clamp(requant(acc, m, shift) + output_offset,
 * act_min, act_max) in the op's rounding flavour. A params struct holds it as its member `rq` (the
 * generated params set it as .rq.output_offset = ..., .rq.act_min = ..., ...); the multiplier and shift
 * stay in the struct, as one value or one per channel. */
typedef struct {
  int32_t output_offset; /* output zero point */
  int32_t act_min;       /* the fused activation's clamp, within the output type's range */
  int32_t act_max;
  int32_t rounding;      /* EDGEQ_ROUND_SINGLE / EDGEQ_ROUND_DOUBLE */
} edgeq_requant_t;

EDGEQ_INLINE int32_t edgeq_requant_clamp(const edgeq_requant_t *rq, int32_t acc, int32_t m, int32_t shift) {
  return edgeq_clamp_i32(edgeq_requant(acc, m, shift, rq->rounding) + rq->output_offset, rq->act_min, rq->act_max);
}

EDGEQ_INLINE int8_t edgeq_sat_s8(int32_t x) { return (int8_t)edgeq_clamp_i32(x, -128, 127); }

/* TFLite LUTLookup for int16: a 513-entry table over 512 intervals of 128 input values, linear
 * interpolation rounded to the output's Q0.15 (int16 SOFTMAX's tables, int16 GELU). */
EDGEQ_INLINE int16_t edgeq_lut_lookup_s16(int16_t v, const int16_t *lut) {
  const uint16_t index = (uint16_t)(256 + (v >> 7));
  const int16_t offset = (int16_t)(v & 0x7f);
  const int16_t base = lut[index];
  const int16_t slope = (int16_t)(lut[index + 1] - lut[index]);
  const int32_t delta = ((int32_t)slope * offset + 64) >> 7;
  return (int16_t)(base + delta);
}

/* 4 bytes from p (any alignment) as one word. */
EDGEQ_INLINE int32_t edgeq_ld32(const void *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Sub-8-bit weights: n values from value index `first` of a packed array into dst as int8.
 * int4 (TFLite's INT4 tensors, the int8x4 scheme): two values a byte, value 2i in the low nibble and 2i + 1
 * in the high one, sign-extended to [-8, 7] (tensor_utils::UnpackDenseInt4IntoInt8). The kernels decode a
 * row of weights into scratch once and reuse it for every pixel. */
EDGEQ_HELPER void edgeq_unpack_s4(const uint8_t *src, int32_t first, int32_t n, int8_t *dst) {
  const uint8_t *s = src + (first >> 1);
  int32_t i = 0;
  if ((first & 1) && n > 0) {
    *dst++ = (int8_t)((int8_t)*s++ >> 4);
    i = 1;
  }
  for (; i + 1 < n; i += 2) {
    const uint8_t b = *s++;
    dst[0] = (int8_t)((int8_t)(uint8_t)(b << 4) >> 4);
    dst[1] = (int8_t)((int8_t)b >> 4);
    dst += 2;
  }
  if (i < n) *dst = (int8_t)((int8_t)(uint8_t)(*s << 4) >> 4);
}

/* Codebook weights (k-means clustered models, --clusters K <= 16): n values from index `first` of 4-bit
 * indices packed as int4 (two a byte, low nibble first), each the entry of the channel's `codebook` (16
 * int8 values) it names. */
EDGEQ_HELPER void edgeq_unpack_cb4(const uint8_t *src, int32_t first, int32_t n, const int8_t *codebook, int8_t *dst) {
  const uint8_t *s = src + (first >> 1);
  if ((first & 1) && n > 0) {
    *dst++ = codebook[*s++ >> 4];
    --n;
  }
  for (; n >= 2; n -= 2) { /* a byte, two entries */
    const uint32_t b = *s++;
    dst[0] = codebook[b & 15u];
    dst[1] = codebook[b >> 4];
    dst += 2;
  }
  if (n > 0) *dst = codebook[*s & 15u];
}

/* Codebook weights with `bits`-wide indices (any width up to 8; the lowerings use 2 to 7 bits, at most 2^bits
 * values per channel): n values from index `first` of a little-endian bit stream, index j in bits
 * j * bits .. j * bits + bits - 1 (bit 0 the lowest of byte 0; 4 bits is edgeq_unpack_cb4's packing, 3 bits puts 8 indices in 3 bytes), each
 * the entry of the channel's `codebook` (2^bits int8 values) it names. Reads no byte past the last index's. */
EDGEQ_HELPER void edgeq_unpack_cb(const uint8_t *src, int32_t bits, int32_t first, int32_t n, const int8_t *codebook,
                                  int8_t *dst) {
  const uint32_t mask = (1u << bits) - 1u;
  const uint32_t pos = (uint32_t)first * (uint32_t)bits;
  const uint8_t *s = src + (pos >> 3);
  uint32_t buf;
  int32_t have, i;
  if (n <= 0) return;
  buf = (uint32_t)*s++ >> (pos & 7u);
  have = 8 - (int32_t)(pos & 7u);
  for (i = 0; i < n; ++i) {
    if (have < bits) { /* 0 <= have < bits <= 8: one byte always completes the field (have + 8 >= bits) */
      buf |= (uint32_t)*s++ << have;
      have += 8;
    }
    dst[i] = codebook[buf & mask];
    buf >>= bits;
    have -= bits;
  }
}

/* The number of leading zero bits of x (32 for 0). */
EDGEQ_HELPER int32_t edgeq_clz32(uint32_t x) {
#if defined(__GNUC__)
  return x ? __builtin_clz(x) : 32;
#else
  int32_t n = 0;
  if (!x) return 32;
  while (!(x & 0x80000000u)) {
    x <<= 1;
    ++n;
  }
  return n;
#endif
}

/* ---- window geometry ------------------------------------------------------------------------------ */

/* Taps k in [*lo, *hi) of a kernel of size k_size (dilation dil) whose input coordinate
 * origin + k * dil lies in [0, n): the valid taps of a convolution window, with no bounds test per tap. */
EDGEQ_HELPER void edgeq_tap_range(int32_t origin, int32_t dil, int32_t k_size, int32_t n, int32_t *lo, int32_t *hi) {
  int32_t a = origin >= 0 ? 0 : (-origin + dil - 1) / dil;
  int32_t b = origin > n - 1 ? 0 : (n - 1 - origin) / dil + 1;
  if (b > k_size) b = k_size;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* Valid filter taps [*lo, *hi) of a pooling window starting at `origin` on an axis of `size` elements
 * (empty windows are rejected at generation time). */
EDGEQ_HELPER void edgeq_pool_window(int32_t origin, int32_t filter, int32_t size, int32_t *lo, int32_t *hi) {
  *lo = edgeq_max_i32(0, -origin);
  *hi = edgeq_min_i32(filter, size - origin);
}

/* ---- broadcasting --------------------------------------------------------------------------------- */

/* The walk of a broadcasting binary op (elementwise.h describes the generation-time loop description:
 * `ndim` collapsed output dimensions `shape`, per-input element strides, 0 where broadcast): rows of the
 * innermost dimension, an odometer over the outer ones. off1 / off2: the current row's first element in
 * input 1 / 2. */
#define EDGEQ_BCAST_MAX_DIMS 8

typedef struct {
  int32_t idx[EDGEQ_BCAST_MAX_DIMS];
  int32_t off1;
  int32_t off2;
} edgeq_bcast_iter;

EDGEQ_HELPER void edgeq_bcast_begin(edgeq_bcast_iter *it, int32_t ndim) {
  int32_t d;
  for (d = 0; d < ndim; ++d) it->idx[d] = 0;
  it->off1 = 0;
  it->off2 = 0;
}

/* Step to the next row (all dimensions but the innermost); returns 0 after the last row. */
EDGEQ_HELPER int edgeq_bcast_next(edgeq_bcast_iter *it, int32_t ndim, const int32_t *shape, const int32_t *st1,
                                  const int32_t *st2) {
  int32_t d;
  for (d = ndim - 2; d >= 0; --d) {
    if (++it->idx[d] < shape[d]) {
      it->off1 += st1[d];
      it->off2 += st2[d];
      return 1;
    }
    it->idx[d] = 0;
    it->off1 -= st1[d] * (shape[d] - 1);
    it->off2 -= st2[d] * (shape[d] - 1);
  }
  return 0;
}

/* The broadcast walk of a binary op whose params `p` hold ndim / shape / stride1 / stride2 (as above), written
 * once for every kernel that has no faster path of its own: for each output row, `a` and `b` (of element types
 * TA, TB) point at the row's operands, with element strides `s1` / `s2` (0 or 1), `out` at its `n` outputs; the
 * statements after `out` compute them with the loop counter `i`, then `out` moves on by `n`. */
#define EDGEQ_BCAST_ROWS(p, TA, in1, TB, in2, out, ...)                                      \
  do {                                                                                      \
    const int32_t last = (p)->ndim - 1;                                                     \
    const int32_t n = (p)->shape[last];                                                     \
    const int32_t s1 = (p)->stride1[last];                                                  \
    const int32_t s2 = (p)->stride2[last];                                                  \
    edgeq_bcast_iter it;                                                                    \
    edgeq_bcast_begin(&it, (p)->ndim);                                                      \
    do {                                                                                    \
      const TA *a = (in1) + it.off1;                                                        \
      const TB *b = (in2) + it.off2;                                                        \
      int32_t i;                                                                            \
      __VA_ARGS__                                                                           \
      (out) += n;                                                                           \
    } while (edgeq_bcast_next(&it, (p)->ndim, (p)->shape, (p)->stride1, (p)->stride2));     \
  } while (0)

/* ---- float32 ------------------------------------------------------------------------------------- */

/* ActivationFunctionWithMinMax: min(max(v, lo), hi) */
EDGEQ_HELPER float edgeq_clampf(float v, float lo, float hi) {
  v = v < lo ? lo : v;
  return hi < v ? hi : v;
}

/* total + sum of n products x[i] * w[i], accumulated in index order (4 per iteration, same order) */
EDGEQ_HELPER float edgeq_dot_f32(float total, const float *x, const float *w, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    total += x[i] * w[i];
    total += x[i + 1] * w[i + 1];
    total += x[i + 2] * w[i + 2];
    total += x[i + 3] * w[i + 3];
  }
  for (; i < n; ++i) total += x[i] * w[i];
  return total;
}

/* edgeq_dot_f32 with int8 weights of one scale (weight-only int8): each weight is (float)w[i] * scale, the
 * value LiteRT's DEQUANTIZE gives it (the product of an int8 and a float is exact in double, so rounding it
 * once to float equals the reference's (float)(scale * q)), then accumulated in edgeq_dot_f32's order. */
EDGEQ_HELPER float edgeq_dot_f32_s8w(float total, const float *x, const int8_t *w, float scale, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    total += x[i] * ((float)w[i] * scale);
    total += x[i + 1] * ((float)w[i + 1] * scale);
    total += x[i + 2] * ((float)w[i + 2] * scale);
    total += x[i + 3] * ((float)w[i + 3] * scale);
  }
  for (; i < n; ++i) total += x[i] * ((float)w[i] * scale);
  return total;
}

/* edgeq's own float32 exponential and tanh (the firmware links no libm), used by the float32 kernels.
 * edgeq_expf: Cody-Waite range reduction x = n ln2 + r (|r| <= ln2/2), a degree-7 Taylor polynomial for e^r
 * and an exact scaling by 2^n; a few ulp from the correctly rounded value. edgeq_tanhf: expm1 (a degree-11
 * Taylor polynomial) near zero and 1 - 2 / (e^2|x| + 1) elsewhere. */
EDGEQ_HELPER float edgeq_pow2f(int32_t n) { /* 2^n for -126 <= n <= 127 */
  const uint32_t bits = (uint32_t)(n + 127) << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

EDGEQ_HELPER float edgeq_expf(float x) {
  int32_t n;
  float r, q;
  if (x != x) return x;                 /* NaN */
  if (x > 88.7228394f) return edgeq_pow2f(127) * 4.0f; /* overflows to +inf, like expf */
  if (x < -103.972084f) return 0.0f;
  n = (int32_t)(x * 1.44269502f + (x < 0.0f ? -0.5f : 0.5f));
  r = x - (float)n * 0.693359375f;     /* ln2 high part: n * it is exact */
  r = r - (float)n * -2.12194440e-4f;  /* ln2 low part */
  q = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f +
      r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));
  if (n > 127) return q * edgeq_pow2f(127) * 2.0f;
  if (n < -126) return q * edgeq_pow2f(n + 64) * edgeq_pow2f(-64);
  return q * edgeq_pow2f(n);
}

EDGEQ_HELPER float edgeq_tanhf(float x) {
  const float a = x < 0.0f ? -x : x;
  float r;
  if (x != x) return x;
  if (a < 0.625f) { /* expm1(2a) by its Taylor series: no cancellation near 0 */
    const float y = 2.0f * a;
    const float e = y * (1.0f + y * (0.5f + y * (1.66666672e-1f + y * (4.16666679e-2f +
                    y * (8.33333377e-3f + y * (1.38888892e-3f + y * (1.98412701e-4f +
                    y * (2.48015876e-5f + y * (2.75573188e-6f + y * (2.75573188e-7f +
                    y * 2.50521079e-8f))))))))));
    r = e / (e + 2.0f);
  } else if (a > 9.1f) {
    r = 1.0f;
  } else {
    r = 1.0f - 2.0f / (edgeq_expf(2.0f * a) + 1.0f);
  }
  return x < 0.0f ? -r : r;
}

/* edgeq's float32 natural logarithm (LOG in float32_math.c, LOG_SOFTMAX in float32_log_softmax.c):
 * log x = e ln2 + log m, m in [sqrt(1/2), sqrt(2)): log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.1716,
 * by its series to s^11 (truncation < 4e-10). Subnormal inputs are scaled by 2^23 first. */
EDGEQ_HELPER float edgeq_logf(float x) {
  const uint32_t nan_bits = 0x7fc00000u, inf_bits = 0x7f800000u;
  uint32_t u;
  int32_t e = 0;
  float m, s, s2, r, special;
  if (x != x || x < 0.0f) { /* NaN */
    memcpy(&special, &nan_bits, sizeof special);
    return special;
  }
  memcpy(&special, &inf_bits, sizeof special);
  if (x == 0.0f) return -special; /* -inf */
  if (x == special) return x;     /* +inf */
  if (x < 1.17549435e-38f) {
    x *= 8388608.0f;
    e = -23;
  }
  memcpy(&u, &x, sizeof u);
  e += (int32_t)(u >> 23) - 127;
  u = (u & 0x007fffffu) | 0x3f800000u;
  memcpy(&m, &u, sizeof m); /* [1, 2) */
  if (m > 1.41421356f) {
    m *= 0.5f;
    ++e;
  }
  s = (m - 1.0f) / (m + 1.0f);
  s2 = s * s;
  r = 2.0f * s * (1.0f + s2 * (0.333333343f + s2 * (0.2f + s2 * (0.142857149f + s2 * (0.111111112f +
      s2 * 0.0909090936f)))));
  return (float)e * 0.693147182f + r;
}

#endif /* EDGEQ_COMMON_H */
