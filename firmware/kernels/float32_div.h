/* edgeq: DIV on float32 tensors with numpy-style broadcasting, as LiteRT's reference: out = min(max(in1 / in2,
 * act_min), act_max) with one IEEE division, so exact. With no fused activation the clamp is
 * [-FLT_MAX, FLT_MAX], as LiteRT's (a division by zero gives +-FLT_MAX there, not an infinity; NaN stays NaN). */
#ifndef EDGEQ_FLOAT32_DIV_H
#define EDGEQ_FLOAT32_DIV_H
#include "div.h" /* edgeq_floor_d */

typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  float act_min;
  float act_max;
} edgeq_div_f32_params;

void edgeq_div_f32(const edgeq_div_f32_params *p, const float *in1, const float *in2, float *out);

/* FLOOR_DIV on float32 tensors, as LiteRT's floor_div.cc: (float)floor((double)a / (double)b) (double
 * arithmetic, exact; NaNs and infinities as IEEE gives them). Same walk. */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
} edgeq_floor_div_f32_params;

void edgeq_floor_div_f32(const edgeq_floor_div_f32_params *p, const float *in1, const float *in2, float *out);

#endif
