/* edgeq: TRANSPOSE, TILE, SLICE and STRIDED_SLICE on int16 tensors: the strided copy of strided_copy.h,
 * counted in int16 elements, with the same code (one body, strided_copy_impl.h). */
#ifndef EDGEQ_INT16_STRIDED_COPY_H
#define EDGEQ_INT16_STRIDED_COPY_H
#include "strided_copy.h"

typedef edgeq_strided_copy_params edgeq_strided_copy_s16_params;

void edgeq_strided_copy_s16(const edgeq_strided_copy_s16_params *p, const int16_t *in, int16_t *out);

#endif
