#ifndef EDGEQ_INT16_SHAPE_OPS_H
#define EDGEQ_INT16_SHAPE_OPS_H
#include "shape_ops.h"

/* CONCATENATION and PAD/PADV2 on int16 tensors: the parameters of shape_ops.h, counted in int16
 * elements, and the same code (one body, shape_impl.h). */
typedef edgeq_concat_s8_params edgeq_concat_s16_params;
typedef edgeq_pad_s8_params edgeq_pad_s16_params;

void edgeq_concat_s16(const edgeq_concat_s16_params *p, const int16_t *const *inputs, int16_t *out);
void edgeq_pad_s16(const edgeq_pad_s16_params *p, const int16_t *in, int16_t *out);

#endif
