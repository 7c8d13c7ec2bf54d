/* edgeq: comparisons of float32 tensors (bool output): one IEEE comparison per element as LiteRT's
 * reference (a NaN is unequal to everything and neither less nor greater). Parameters and body: compare.h,
 * compare_impl.h. */
#ifndef EDGEQ_FLOAT32_COMPARE_H
#define EDGEQ_FLOAT32_COMPARE_H
#include "compare.h"

typedef edgeq_compare_params edgeq_compare_f32_params;

void edgeq_compare_f32(const edgeq_compare_f32_params *p, const float *in1, const float *in2, uint8_t *out);

#endif
