#ifndef EDGEQ_INT16_SHAPE_OPS_H
#define EDGEQ_INT16_SHAPE_OPS_H
#include "edgeq_common.h"

/* CONCATENATION and PAD/PADV2 on int16 tensors: the layouts of shape_ops.h, counted in int16 elements. */
#define EDGEQ_S16_SHAPE_MAX_DIMS 5

typedef struct {
  int32_t outer;
  int32_t num_inputs;
  int32_t act_min, act_max; /* [-32768, 32767]: plain copy */
  const int32_t *sizes;     /* [num_inputs] elements per outer slice */
} edgeq_concat_s16_params;

void edgeq_concat_s16(const edgeq_concat_s16_params *p, const int16_t *const *inputs, int16_t *out);

typedef struct {
  int32_t pad_value;
  const int32_t *in_shape;  /* [EDGEQ_S16_SHAPE_MAX_DIMS] */
  const int32_t *out_shape; /* [EDGEQ_S16_SHAPE_MAX_DIMS] */
  const int32_t *before;    /* [EDGEQ_S16_SHAPE_MAX_DIMS] */
} edgeq_pad_s16_params;

void edgeq_pad_s16(const edgeq_pad_s16_params *p, const int16_t *in, int16_t *out);

#endif
