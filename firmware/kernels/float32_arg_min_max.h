/* edgeq: ARG_MAX and ARG_MIN on float32 tensors: the parameters of arg_min_max.h and the same code (one
 * body, arg_min_max_impl.h). */
#ifndef EDGEQ_FLOAT32_ARG_MIN_MAX_H
#define EDGEQ_FLOAT32_ARG_MIN_MAX_H
#include "arg_min_max.h"

typedef edgeq_arg_min_max_params edgeq_arg_min_max_f32_params;

void edgeq_arg_min_max_f32(const edgeq_arg_min_max_f32_params *p, const float *in, void *out);

#endif
