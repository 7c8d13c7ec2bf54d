/* edgeq: SELECT and SELECT_V2 on int16 values: the parameters of select.h and the same code (one body,
 * select_impl.h). */
#ifndef EDGEQ_INT16_SELECT_H
#define EDGEQ_INT16_SELECT_H
#include "select.h"

typedef edgeq_select_params edgeq_select_s16_params;

void edgeq_select_s16(const edgeq_select_s16_params *p, const uint8_t *cond, const int16_t *x, const int16_t *y,
                      int16_t *out);

#endif
