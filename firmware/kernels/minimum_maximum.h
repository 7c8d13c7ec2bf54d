/* edgeq: MINIMUM and MAXIMUM with numpy-style broadcasting, as LiteRT's reference
 * (MaximumMinimumBroadcast4DSlow with el1 > el2 ? el1 : el2 / el1 < el2 ? el1 : el2): a comparison of the
 * stored values, for every element type. Quantized tensors are compared as stored, without rescaling (the
 * reference does not look at their scales; the converter gives inputs and output one scale).
 *
 * Broadcasting: the output is walked as `ndim` collapsed dimensions with per-input element strides (0 where
 * broadcast), as the ADD / SUB / MUL kernels (elementwise.h, edgeq_bcast_iter). One body for every element
 * type (minimum_maximum_impl.h); int16 and float32 sources share these parameters. */
#ifndef EDGEQ_MINIMUM_MAXIMUM_H
#define EDGEQ_MINIMUM_MAXIMUM_H
#include "edgeq_common.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t is_max;         /* 1: MAXIMUM, 0: MINIMUM */
} edgeq_minimum_maximum_params;

typedef edgeq_minimum_maximum_params edgeq_minimum_maximum_s8_params;
typedef edgeq_minimum_maximum_params edgeq_minimum_maximum_i32_params;

void edgeq_minimum_maximum_s8(const edgeq_minimum_maximum_s8_params *p, const int8_t *in1, const int8_t *in2,
                              int8_t *out);
void edgeq_minimum_maximum_i32(const edgeq_minimum_maximum_i32_params *p, const int32_t *in1, const int32_t *in2,
                               int32_t *out);

#endif
