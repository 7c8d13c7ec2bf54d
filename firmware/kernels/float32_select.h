/* edgeq: SELECT and SELECT_V2 on float32 values: the parameters of select.h and the same code (one body,
 * select_impl.h). */
#ifndef EDGEQ_FLOAT32_SELECT_H
#define EDGEQ_FLOAT32_SELECT_H
#include "select.h"

typedef edgeq_select_params edgeq_select_f32_params;

void edgeq_select_f32(const edgeq_select_f32_params *p, const uint8_t *cond, const float *x, const float *y,
                      float *out);

#endif
