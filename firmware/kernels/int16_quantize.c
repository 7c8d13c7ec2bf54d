#include "int16_quantize.h"

void edgeq_quantize_f32_s16(const edgeq_quantize_f32_s16_params *p, const float *in, int16_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float v = in[i] / p->scale;
    int32_t r;
    if (v != v) {
      out[i] = (int16_t)p->nan_value;
      continue;
    }
    if (v >= 1073741824.0f) {
      r = p->out_max;
    } else if (v <= -1073741824.0f) {
      r = p->out_min;
    } else {
      /* roundf: truncate, then the fraction (exact: v - trunc(v) is representable) decides */
      const int32_t t = (int32_t)v;
      const float f = v - (float)t;
      r = t + (f >= 0.5f ? 1 : 0) - (f <= -0.5f ? 1 : 0);
      r = edgeq_clamp_i32(r + p->zero_point, p->out_min, p->out_max);
    }
    out[i] = (int16_t)r;
  }
}

void edgeq_requantize_s16(const edgeq_requantize_s16_params *p, const void *in, void *out) {
  const int8_t *x8 = (const int8_t *)in;
  const int16_t *x16 = (const int16_t *)in;
  int8_t *y8 = (int8_t *)out;
  int16_t *y16 = (int16_t *)out;
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = p->in_bytes == 1 ? (int32_t)x8[i] : (int32_t)x16[i];
    const int32_t y = edgeq_requant_clamp(&p->rq, x - p->in_zero_point, p->multiplier, p->shift);
    if (p->out_bytes == 1) y8[i] = (int8_t)y;
    else y16[i] = (int16_t)y;
  }
}

void edgeq_dequantize_s16(const edgeq_dequantize_s16_params *p, const int16_t *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = p->scale * (float)((int32_t)in[i] - p->zero_point);
}
