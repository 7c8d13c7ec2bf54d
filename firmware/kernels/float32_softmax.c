#include "float32_softmax.h"

#include <string.h>

static float pow2f(int32_t n) { /* 2^n for -126 <= n <= 127 */
  const uint32_t bits = (uint32_t)(n + 127) << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static float edgeq_expf(float x) {
  int32_t n;
  float r, q;
  if (x != x) return x;                 /* NaN */
  if (x > 88.7228394f) return pow2f(127) * 4.0f; /* overflows to +inf, like expf */
  if (x < -103.972084f) return 0.0f;
  n = (int32_t)(x * 1.44269502f + (x < 0.0f ? -0.5f : 0.5f));
  r = x - (float)n * 0.693359375f;     /* ln2 high part: n * it is exact */
  r = r - (float)n * -2.12194440e-4f;  /* ln2 low part */
  q = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666672e-1f + r * (4.16666679e-2f +
      r * (8.33333377e-3f + r * (1.38888892e-3f + r * 1.98412701e-4f))))));
  if (n > 127) return q * pow2f(127) * 2.0f;
  if (n < -126) return q * pow2f(n + 64) * pow2f(-64);
  return q * pow2f(n);
}

static float edgeq_tanhf(float x) {
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

void edgeq_softmax_f32(const edgeq_softmax_f32_params *p, const float *in, float *out) {
  int32_t i, c;
  for (i = 0; i < p->outer; ++i) {
    const float *x = in + i * p->depth;
    float *y = out + i * p->depth;
    float max = -3.40282347e+38f, sum = 0.0f;
    for (c = 0; c < p->depth; ++c) max = max < x[c] ? x[c] : max;
    for (c = 0; c < p->depth; ++c) {
      const float e = edgeq_expf((x[c] - max) * p->beta);
      y[c] = e;
      sum += e;
    }
    for (c = 0; c < p->depth; ++c) y[c] = y[c] / sum;
  }
}

void edgeq_logistic_f32(const edgeq_unary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float v = in[i];
    if (v > 16.619047164916992188f) {
      out[i] = 1.0f;
    } else if (v < -9.0f) {
      out[i] = edgeq_expf(v);
    } else {
      out[i] = 1.0f / (1.0f + edgeq_expf(-v));
    }
  }
}

void edgeq_tanh_f32(const edgeq_unary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_tanhf(in[i]);
}
