/* edgeq: SPLIT, SPLIT_V and UNPACK on int16 tensors (TFLite 16x8): the int8 kernel's layout (split.h) in
 * elements of two bytes. For each of the `outer` slices of the input, output i takes the next sizes[i]
 * elements. LiteRT's and TFLM's reference kernels copy the values (the outputs share the input's scale). */
#ifndef EDGEQ_INT16_SPLIT_H
#define EDGEQ_INT16_SPLIT_H
#include "split.h"

typedef edgeq_split_s8_params edgeq_split_s16_params;

void edgeq_split_s16(const edgeq_split_s16_params *p, const int16_t *in, int16_t *const *outputs);

#endif
