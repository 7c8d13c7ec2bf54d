/* edgeq: TRANSPOSE, TILE and SLICE on float32 tensors: the strided copy of strided_copy.h, counted in
 * float elements, with the same code (one body, strided_copy_impl.h). */
#ifndef EDGEQ_FLOAT32_STRIDED_COPY_H
#define EDGEQ_FLOAT32_STRIDED_COPY_H
#include "strided_copy.h"

typedef edgeq_strided_copy_params edgeq_strided_copy_f32_params;

void edgeq_strided_copy_f32(const edgeq_strided_copy_f32_params *p, const float *in, float *out);

#endif
