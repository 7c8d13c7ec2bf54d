/* edgeq: MINIMUM and MAXIMUM on int16 tensors: the parameters of minimum_maximum.h and the same code (one
 * body, minimum_maximum_impl.h). */
#ifndef EDGEQ_INT16_MINIMUM_MAXIMUM_H
#define EDGEQ_INT16_MINIMUM_MAXIMUM_H
#include "minimum_maximum.h"

typedef edgeq_minimum_maximum_params edgeq_minimum_maximum_s16_params;

void edgeq_minimum_maximum_s16(const edgeq_minimum_maximum_s16_params *p, const int16_t *in1, const int16_t *in2,
                               int16_t *out);

#endif
