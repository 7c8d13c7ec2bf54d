#include "float32_math.h"

/* bits of a float and back */
static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
static float bitsf(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* sqrt by a reciprocal-square-root estimate, three Newton steps and one Newton step on the root */
static float edgeq_sqrtf(float x) {
  float y, s;
  if (x != x || x < 0.0f) return bitsf(0x7fc00000u);
  if (x == 0.0f || fbits(x) == 0x7f800000u) return x;
  y = bitsf(0x5f3759dfu - (fbits(x) >> 1));
  if (x < 1.17549435e-38f) return edgeq_sqrtf(x * 16777216.0f) * 2.44140625e-4f; /* subnormal: 2^24, 2^-12 */
  y = y * (1.5f - 0.5f * x * y * y);
  y = y * (1.5f - 0.5f * x * y * y);
  y = y * (1.5f - 0.5f * x * y * y);
  s = x * y;
  return s + 0.5f * (x - s * s) * y;
}

/* erfc(x): Numerical Recipes' erfcc (Chebyshev fit, relative error < 1.2e-7 everywhere) */
static float edgeq_erfcf(float x) {
  const float z = x < 0.0f ? -x : x;
  const float t = 1.0f / (1.0f + 0.5f * z);
  const float r = t * edgeq_expf(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
                  t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
                  t * (-0.82215223f + t * 0.17087277f)))))))));
  return x >= 0.0f ? r : 2.0f - r;
}

/* expm1(x): its Taylor series near 0, exp(x) - 1 elsewhere */
static float edgeq_expm1f(float x) {
  const float a = x < 0.0f ? -x : x;
  if (a < 0.3f) {
    return x * (1.0f + x * (0.5f + x * (1.66666672e-1f + x * (4.16666679e-2f + x * (8.33333377e-3f +
           x * (1.38888892e-3f + x * 1.98412701e-4f))))));
  }
  return edgeq_expf(x) - 1.0f;
}

#define EDGEQ_F32_UNARY(name, expr)                                         \
  void name(const edgeq_math_f32_params *p, const float *in, float *out) { \
    int32_t i;                                                             \
    for (i = 0; i < p->size; ++i) {                                        \
      const float x = in[i];                                               \
      out[i] = (expr);                                                     \
    }                                                                      \
  }

EDGEQ_F32_UNARY(edgeq_exp_f32, edgeq_expf(x))
EDGEQ_F32_UNARY(edgeq_log_f32, edgeq_logf(x))
EDGEQ_F32_UNARY(edgeq_sqrt_f32, edgeq_sqrtf(x))
EDGEQ_F32_UNARY(edgeq_rsqrt_f32, 1.0f / edgeq_sqrtf(x))
EDGEQ_F32_UNARY(edgeq_abs_f32, x < 0.0f ? -x : (x == 0.0f ? 0.0f : x))
EDGEQ_F32_UNARY(edgeq_neg_f32, -x)
EDGEQ_F32_UNARY(edgeq_gelu_f32, 0.5f * x * edgeq_erfcf(x * -0.707106769f))
EDGEQ_F32_UNARY(edgeq_gelu_tanh_f32, 0.5f * x * (1.0f + edgeq_tanhf(0.797884583f * (x + 0.044715f * x * x * x))))
EDGEQ_F32_UNARY(edgeq_elu_f32, x < 0.0f ? edgeq_expm1f(x) : x)
