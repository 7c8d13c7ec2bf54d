/* edgeq: DIV on int32 tensors with numpy-style broadcasting (the walk of elementwise.h, edgeq_bcast_iter), as
 * LiteRT's div.cc reference: out = clamp(in1 / in2, act_min, act_max), C division truncating toward zero.
 * LiteRT checks the divisor for zeros but ignores the result, so a zero divisor (and INT32_MIN / -1) is
 * undefined there; edgeq gives x / 0 = 0 and INT32_MIN / -1 = INT32_MIN instead of trapping. float32:
 * float32_div.h. int8 DIV is not implemented (edgeq/passes/lower/int8/div.py says why). */
#ifndef EDGEQ_DIV_H
#define EDGEQ_DIV_H
#include "edgeq_common.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t act_min;        /* the fused activation's clamp */
  int32_t act_max;
} edgeq_div_i32_params;

void edgeq_div_i32(const edgeq_div_i32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out);

#endif
