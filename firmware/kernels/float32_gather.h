/* edgeq: GATHER on float32 tensors: the parameters of gather.h, counted in float32 elements, and the same
 * code (one body, gather_impl.h). */
#ifndef EDGEQ_FLOAT32_GATHER_H
#define EDGEQ_FLOAT32_GATHER_H
#include "gather.h"

typedef edgeq_gather_params edgeq_gather_f32_params;

void edgeq_gather_f32(const edgeq_gather_f32_params *p, const float *params, const void *indices, float *out);

#endif
