/* edgeq: SPLIT, SPLIT_V and UNPACK on float32 tensors: the int8 kernel's layout (split.h) in elements of
 * four bytes. For each of the `outer` slices of the input, output i takes the next sizes[i] elements. */
#ifndef EDGEQ_FLOAT32_SPLIT_H
#define EDGEQ_FLOAT32_SPLIT_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer;        /* product of the dimensions before the axis */
  int32_t num_outputs;
  const int32_t *sizes; /* [num_outputs] elements output i takes per outer slice */
} edgeq_split_f32_params;

void edgeq_split_f32(const edgeq_split_f32_params *p, const float *in, float *const *outputs);

#endif
