#ifndef EDGEQ_PRELU_H
#define EDGEQ_PRELU_H
#include "edgeq_common.h"

/* PRELU, int8, as LiteRT's reference_ops::BroadcastPrelu4DSlow: x = in + input_offset, a = alpha +
 * alpha_offset;
 *   out = clamp((x >= 0 ? requant(x, mult_pos, shift_pos) : requant(x * a, mult_neg, shift_neg))
 *               + rq.output_offset, rq.act_min, rq.act_max)
 * The alpha operand is broadcast against the input with the loop description of elementwise.h (input 1 =
 * the input, input 2 = alpha; the output has the input's shape). */
typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of the input */
  const int32_t *stride2; /* [ndim] element strides of alpha (0 = broadcast) */
  int32_t input_offset;   /* -input zero point */
  int32_t alpha_offset;   /* -alpha zero point */
  int32_t mult_pos;
  int32_t shift_pos;
  int32_t mult_neg;
  int32_t shift_neg;
  edgeq_requant_t rq;
} edgeq_prelu_s8_params;

void edgeq_prelu_s8(const edgeq_prelu_s8_params *p, const int8_t *in, const int8_t *alpha, int8_t *out);

#endif
