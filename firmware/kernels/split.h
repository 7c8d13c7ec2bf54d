/* edgeq: SPLIT, SPLIT_V and UNPACK on int8 tensors: one input cut into several outputs along one axis.
 *
 * The TFLite reference kernels copy the bytes (no requantization: the converter gives the outputs the
 * input's scale and zero point). The lowering views the input as [outer][sum of sizes] (outer = product
 * of the dimensions before the axis; sizes[i] = output i's extent along the axis times the product of
 * the dimensions after it, in elements), so the kernel is the inverse of CONCATENATION: for each outer
 * slice, output i takes the next sizes[i] elements. UNPACK is a SPLIT into extents of 1 whose outputs
 * lack the axis, which changes no byte.
 */
#ifndef EDGEQ_SPLIT_H
#define EDGEQ_SPLIT_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer;        /* product of the dimensions before the axis */
  int32_t num_outputs;
  const int32_t *sizes; /* [num_outputs] elements output i takes per outer slice */
} edgeq_split_s8_params;

void edgeq_split_s8(const edgeq_split_s8_params *p, const int8_t *in, int8_t *const *outputs);

#endif
