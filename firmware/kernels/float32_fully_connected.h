/* edgeq: FULLY_CONNECTED on float32 tensors, as reference_ops::FullyConnected: for each output,
 * total = sum over d of in[d] * w[d] in index order, then + bias, then the fused-activation clamp.
 * Weight-only int8 (weights_s8 set): w[d] = (float)weights_s8[d] * scales[o], LiteRT's DEQUANTIZE value. */
#ifndef EDGEQ_FLOAT32_FULLY_CONNECTED_H
#define EDGEQ_FLOAT32_FULLY_CONNECTED_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;
  int32_t in_depth;  /* accumulation depth */
  int32_t out_depth; /* output channels */
  float act_min;
  float act_max;
  const float *weights;     /* [out_depth][in_depth], or NULL when weights_s8 is set */
  const float *bias;        /* [out_depth] or NULL */
  const int8_t *weights_s8; /* weight-only int8: [out_depth][in_depth], or NULL */
  const float *scales;      /* with weights_s8: [out_depth], weight = (float)w * scales[o] */
} edgeq_fully_connected_f32_params;

void edgeq_fully_connected_f32(const edgeq_fully_connected_f32_params *p, const float *in, float *out);

#endif
