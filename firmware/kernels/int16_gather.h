/* edgeq: GATHER on int16 tensors: the parameters of gather.h, counted in int16 elements, and the same
 * code (one body, gather_impl.h). */
#ifndef EDGEQ_INT16_GATHER_H
#define EDGEQ_INT16_GATHER_H
#include "gather.h"

typedef edgeq_gather_params edgeq_gather_s16_params;

void edgeq_gather_s16(const edgeq_gather_s16_params *p, const int16_t *params, const void *indices, int16_t *out);

#endif
