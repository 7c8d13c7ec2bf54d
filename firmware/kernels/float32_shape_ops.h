/* edgeq: data movement on float32 tensors: CONCATENATION, PAD/PADV2, STRIDED_SLICE and
 * RESIZE_NEAREST_NEIGHBOR (no arithmetic on the values except CONCATENATION's optional fused-activation
 * clamp, which edgeq's fuse pass may add). Shapes, slices and source indices are resolved at generation
 * time exactly as for the int8 kernels (shape_ops.h, resize.h), in elements instead of bytes. */
#ifndef EDGEQ_FLOAT32_SHAPE_OPS_H
#define EDGEQ_FLOAT32_SHAPE_OPS_H
#include "edgeq_common.h"

#define EDGEQ_F32_SHAPE_MAX_DIMS 5

/* out = concat(inputs) along one axis viewed as [outer][sum of sizes]: input i contributes sizes[i]
 * consecutive elements per outer slice. clamp != 0: min(max(v, act_min), act_max). */
typedef struct {
  int32_t outer;
  int32_t num_inputs;
  int32_t clamp;
  float act_min;
  float act_max;
  const int32_t *sizes; /* [num_inputs] */
} edgeq_concat_f32_params;

void edgeq_concat_f32(const edgeq_concat_f32_params *p, const float *const *inputs, float *out);

/* out = in padded with pad_value; EDGEQ_F32_SHAPE_MAX_DIMS-D shapes (leading 1s), innermost last. */
typedef struct {
  float pad_value;
  const int32_t *in_shape;  /* [EDGEQ_F32_SHAPE_MAX_DIMS] */
  const int32_t *out_shape; /* [EDGEQ_F32_SHAPE_MAX_DIMS] */
  const int32_t *before;    /* [EDGEQ_F32_SHAPE_MAX_DIMS] */
} edgeq_pad_f32_params;

void edgeq_pad_f32(const edgeq_pad_f32_params *p, const float *in, float *out);

/* out[i0]..[i4] = in[offset + sum_d i_d * step[d]], i_d < count[d] (steps in elements, may be negative) */
typedef struct {
  int32_t offset;
  const int32_t *count; /* [EDGEQ_F32_SHAPE_MAX_DIMS] */
  const int32_t *step;  /* [EDGEQ_F32_SHAPE_MAX_DIMS] */
} edgeq_strided_slice_f32_params;

void edgeq_strided_slice_f32(const edgeq_strided_slice_f32_params *p, const float *in, float *out);

/* out[b][y][x][:] = (in + b * in_image + row_offset[y] + col_offset[x])[0 .. depth), offsets in elements */
typedef struct {
  int32_t batches;
  int32_t in_image; /* in_h * in_w * depth */
  int32_t out_h;
  int32_t out_w;
  int32_t depth;
  const int32_t *row_offset; /* [out_h] */
  const int32_t *col_offset; /* [out_w] */
} edgeq_resize_nearest_f32_params;

void edgeq_resize_nearest_f32(const edgeq_resize_nearest_f32_params *p, const float *in, float *out);

#endif
