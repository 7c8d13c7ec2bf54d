/* edgeq: ARG_MAX and ARG_MIN on int8 tensors (float32_arg_min_max.h takes the same parameters for float
 * input), as LiteRT's reference_ops::ArgMinMax computes them: viewing the input as
 * [outer][axis_size][inner], out[o][j] is the index i of the largest (smallest) in[o][i][j], the first
 * one among equals. The raw int8 values are compared (the quantization is monotonic, whatever the scale
 * and zero point). The output is int32_t or int64_t (wide_output), as the op's output_type says.
 */
#ifndef EDGEQ_ARG_MIN_MAX_H
#define EDGEQ_ARG_MIN_MAX_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer;       /* product of the dimensions before the axis */
  int32_t axis_size;   /* >= 1 */
  int32_t inner;       /* product of the dimensions after the axis */
  int32_t is_min;      /* 1: ARG_MIN, 0: ARG_MAX */
  int32_t wide_output; /* 0: int32_t output, 1: int64_t */
} edgeq_arg_min_max_params;

void edgeq_arg_min_max_s8(const edgeq_arg_min_max_params *p, const int8_t *in, void *out);

#endif
