/* edgeq: MINIMUM and MAXIMUM on float32 tensors: the parameters of minimum_maximum.h and the same code (one
 * body, minimum_maximum_impl.h). NaNs as the reference's x > y ? x : y:
 * max(1, NaN) = NaN, max(NaN, 1) = 1 (and so for min). */
#ifndef EDGEQ_FLOAT32_MINIMUM_MAXIMUM_H
#define EDGEQ_FLOAT32_MINIMUM_MAXIMUM_H
#include "minimum_maximum.h"

typedef edgeq_minimum_maximum_params edgeq_minimum_maximum_f32_params;

void edgeq_minimum_maximum_f32(const edgeq_minimum_maximum_f32_params *p, const float *in1, const float *in2,
                               float *out);

#endif
