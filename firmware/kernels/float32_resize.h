/* edgeq: RESIZE_BILINEAR on float32 tensors, as LiteRT's float reference (reference_ops::ResizeBilinear).
 *
 * The source rows/columns and fractions are computed at generation time in float32:
 *   y_lo[y], y_hi[y]: element offsets of the two source rows, y_frac[y] = v - lo (float); x alike.
 *   out = in[y_lo][x_lo] * (1 - fy) * (1 - fx) + in[y_hi][x_lo] * fy * (1 - fx)
 *       + in[y_lo][x_hi] * (1 - fy) * fx + in[y_hi][x_hi] * fy * fx        (the reference's order) */
#ifndef EDGEQ_FLOAT32_RESIZE_H
#define EDGEQ_FLOAT32_RESIZE_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;
  int32_t in_image; /* in_h * in_w * depth: elements per input batch */
  int32_t out_h;
  int32_t out_w;
  int32_t depth;
  const int32_t *y_lo;  /* [out_h] */
  const int32_t *y_hi;  /* [out_h] */
  const float *y_frac;  /* [out_h] */
  const int32_t *x_lo;  /* [out_w] */
  const int32_t *x_hi;  /* [out_w] */
  const float *x_frac;  /* [out_w] */
} edgeq_resize_bilinear_f32_params;

void edgeq_resize_bilinear_f32(const edgeq_resize_bilinear_f32_params *p, const float *in, float *out);

#endif
