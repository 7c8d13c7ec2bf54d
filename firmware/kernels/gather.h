/* edgeq: GATHER on int8 tensors (int16_gather.h and float32_gather.h take the same parameters in their
 * element type): out = params taken at runtime indices along one axis, as LiteRT's reference_ops::Gather
 * copies them (no arithmetic on the values, whatever the quantization).
 *
 * Viewing params as [batches][outer][axis_size][inner] and indices as [batches][coords], output slice
 * (b, o, i) is params[b][o][indices[b][i]][0 .. inner). The indices are int32 or int64 (wide_indices).
 * An index outside [0, axis_size) makes LiteRT's Invoke fail; this kernel has no error path and writes
 * `fill` (the real value 0: the output zero point, or 0.0) over that slice instead.
 */
#ifndef EDGEQ_GATHER_H
#define EDGEQ_GATHER_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;      /* product of the params dimensions before batch_dims */
  int32_t outer;        /* product of the params dimensions from batch_dims to the axis */
  int32_t axis_size;    /* params extent along the axis: valid indices are [0, axis_size) */
  int32_t inner;        /* elements per gathered slice: product of the params dimensions after the axis */
  int32_t coords;       /* indices per batch */
  int32_t wide_indices; /* 0: indices are int32_t, 1: int64_t */
  int32_t fill;         /* written for an index out of range */
} edgeq_gather_params;

void edgeq_gather_s8(const edgeq_gather_params *p, const int8_t *params, const void *indices, int8_t *out);

#endif
