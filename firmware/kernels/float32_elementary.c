#include "float32_elementary.h"

/* floorf without libm: values of magnitude 2^23 and above (and NaN, infinities, zeros) are already
 * integers and come back unchanged, keeping the sign of a zero; others truncate and step down if needed. */
static float edgeq_floorf(float x) {
  float t;
  if (!(x > -8388608.0f && x < 8388608.0f) || x == 0.0f) return x;
  t = (float)(int32_t)x;
  return t > x ? t - 1.0f : t;
}

void edgeq_square_f32(const edgeq_elementary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = in[i] * in[i];
}

void edgeq_floor_f32(const edgeq_elementary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_floorf(in[i]);
}

void edgeq_round_f32(const edgeq_elementary_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float f = edgeq_floorf(in[i]);
    const float diff = in[i] - f;
    /* |f| < 2^23 whenever diff != 0, so the int conversion is exact */
    if (diff < 0.5f || (diff == 0.5f && (int32_t)f % 2 == 0)) {
      out[i] = f;
    } else {
      out[i] = f + 1.0f;
    }
  }
}
