#ifndef EDGEQ_INT16_QUANTIZE_H
#define EDGEQ_INT16_QUANTIZE_H
#include "edgeq_common.h"

/* QUANTIZE float32 -> int16, as reference_ops::AffineQuantize: roundf(x / scale) + zero_point (float32
 * division, round half away from zero), clamped to [out_min, out_max]; NaN gives nan_value (the Arm build
 * of the reference converts NaN to 0); quotients beyond +-2^30 saturate. */
typedef struct {
  int32_t size;
  float scale;
  int32_t zero_point;
  int32_t out_min, out_max;
  int32_t nan_value;
} edgeq_quantize_f32_s16_params;

void edgeq_quantize_f32_s16(const edgeq_quantize_f32_s16_params *p, const float *in, int16_t *out);

/* QUANTIZE between int16 and int8/int16 (reference_ops::Requantize):
 * out = clamp(MultiplyByQuantizedMultiplier(in - in_zero_point, multiplier, shift) + rq.output_offset)
 * to the output type's range [rq.act_min, rq.act_max]. in_bytes / out_bytes (1: int8, 2: int16) give the
 * element types. */
typedef struct {
  int32_t size;
  int32_t in_bytes, out_bytes;
  int32_t in_zero_point;
  int32_t multiplier, shift;
  edgeq_requant_t rq;
} edgeq_requantize_s16_params;

void edgeq_requantize_s16(const edgeq_requantize_s16_params *p, const void *in, void *out);

/* DEQUANTIZE int16 -> float32: (float)((double)scale * (x - zero_point)), computed exactly as the float32
 * product scale * (float)(x - zero_point) (both factors exact, one rounding). */
typedef struct {
  int32_t size;
  float scale;
  int32_t zero_point;
} edgeq_dequantize_s16_params;

void edgeq_dequantize_s16(const edgeq_dequantize_s16_params *p, const int16_t *in, float *out);

#endif
