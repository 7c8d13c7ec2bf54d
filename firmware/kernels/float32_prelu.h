#ifndef EDGEQ_FLOAT32_PRELU_H
#define EDGEQ_FLOAT32_PRELU_H
#include "edgeq_common.h"

/* PRELU, float32 (reference_ops::BroadcastPrelu4DSlow): out = in >= 0 ? in : in * alpha, alpha broadcast
 * with the loop description of elementwise.h (input 1 = the input, input 2 = alpha). Exact. */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
} edgeq_prelu_f32_params;

void edgeq_prelu_f32(const edgeq_prelu_f32_params *p, const float *in, const float *alpha, float *out);

#endif
