/* edgeq: SQUARED_DIFFERENCE on float32 tensors, d = in1 - in2, out = d * d (two IEEE operations, as LiteRT's
 * reference: exact), with the broadcasting walk of squared_difference.h. */
#ifndef EDGEQ_FLOAT32_SQUARED_DIFFERENCE_H
#define EDGEQ_FLOAT32_SQUARED_DIFFERENCE_H
#include "squared_difference.h"

typedef edgeq_squared_difference_i32_params edgeq_squared_difference_f32_params;

void edgeq_squared_difference_f32(const edgeq_squared_difference_f32_params *p, const float *in1, const float *in2,
                                  float *out);

#endif
