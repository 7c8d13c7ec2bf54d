#ifndef EDGEQ_INT16_REDUCE_H
#define EDGEQ_INT16_REDUCE_H
#include "reduce.h"

/* MEAN / SUM / REDUCE_MAX / REDUCE_MIN over any set of axes of an int16 tensor (TFLite 16x8): the same
 * parameters and arithmetic as the int8 kernels in reduce.h (one body, reduce_impl.h), int16 range. */
typedef edgeq_reduce_s8_params edgeq_reduce_s16_params;

void edgeq_mean_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_sum_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_reduce_max_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_reduce_min_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out);

#endif
