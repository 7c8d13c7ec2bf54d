/* edgeq: FULLY_CONNECTED on float32 tensors, as reference_ops::FullyConnected: for each output,
 * total = sum over d of in[d] * w[d] in index order, then + bias, then the fused-activation clamp. */
#ifndef EDGEQ_FLOAT32_FULLY_CONNECTED_H
#define EDGEQ_FLOAT32_FULLY_CONNECTED_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;
  int32_t in_depth;  /* accumulation depth */
  int32_t out_depth; /* output channels */
  float act_min;
  float act_max;
  const float *weights; /* [out_depth][in_depth] */
  const float *bias;    /* [out_depth] or NULL */
} edgeq_fully_connected_f32_params;

void edgeq_fully_connected_f32(const edgeq_fully_connected_f32_params *p, const float *in, float *out);

#endif
