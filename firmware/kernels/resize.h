#ifndef EDGEQ_RESIZE_H
#define EDGEQ_RESIZE_H
#include "edgeq_common.h"

/* RESIZE_NEAREST_NEIGHBOR, int8 (pure copy: the output keeps the input's bytes).
 *
 * TFLite picks each source row/column with float arithmetic (GetNearestNeighbor); that is done at
 * generation time, exactly in float32, and arrives here as byte offsets:
 *   out[b][y][x][:] = in[b] + row_offset[y] + col_offset[x] .. + depth
 * row_offset[y] = src_y * in_w * depth, col_offset[x] = src_x * depth. */
typedef struct {
  int32_t batches;
  int32_t in_image;  /* in_h * in_w * depth: bytes per input batch */
  int32_t out_h;
  int32_t out_w;
  int32_t depth;
  const int32_t *row_offset; /* [out_h] */
  const int32_t *col_offset; /* [out_w] */
} edgeq_resize_nearest_s8_params;

void edgeq_resize_nearest_s8(const edgeq_resize_nearest_s8_params *p, const int8_t *in, int8_t *out);

/* RESIZE_BILINEAR, int8 (TFLite's ResizeBilinearInteger: weights in 1/1024 of a pixel, no
 * requantization: the output keeps the input's parameters).
 *
 * The source rows/columns and their weights are computed at generation time:
 *   y_lo[y], y_hi[y]: byte offsets of the two source rows (src * in_w * depth), y_frac[y] the weight
 *   of y_hi in 1/1024 (may be negative, then y_lo == y_hi); x_lo, x_hi (src * depth), x_frac alike.
 *   acc = in[y_lo][x_lo] * (1024 - fy) * (1024 - fx) + in[y_hi][x_lo] * fy * (1024 - fx)
 *       + in[y_lo][x_hi] * (1024 - fy) * fx + in[y_hi][x_hi] * fy * fx      (|acc| < 2^31)
 *   out = rounding == EDGEQ_ROUND_SINGLE ? (acc + 2^19) >> 20 : acc / 2^20 rounded half away from 0
 * int16_resize.h takes the same parameters in int16 elements (one body, resize_bilinear_impl.h). */
typedef struct {
  int32_t batches;
  int32_t in_image;  /* in_h * in_w * depth: bytes per input batch */
  int32_t out_h;
  int32_t out_w;
  int32_t depth;
  int32_t rounding;  /* EDGEQ_ROUND_SINGLE / EDGEQ_ROUND_DOUBLE */
  const int32_t *y_lo;   /* [out_h] */
  const int32_t *y_hi;   /* [out_h] */
  const int32_t *y_frac; /* [out_h] */
  const int32_t *x_lo;   /* [out_w] */
  const int32_t *x_hi;   /* [out_w] */
  const int32_t *x_frac; /* [out_w] */
} edgeq_resize_bilinear_s8_params;

void edgeq_resize_bilinear_s8(const edgeq_resize_bilinear_s8_params *p, const int8_t *in, int8_t *out);

#endif
