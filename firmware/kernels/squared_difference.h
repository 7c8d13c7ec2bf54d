/* edgeq: SQUARED_DIFFERENCE, out = (in1 - in2)^2, with numpy-style broadcasting (the walk of elementwise.h,
 * edgeq_bcast_iter). int8 as LiteRT's squared_difference.cc:
 *   s_k = MultiplyByQuantizedMultiplierSmallerThanOneExp((in_k + input<k>_offset) << left_shift,
 *                                                         input<k>_multiplier, input<k>_shift)   (left_shift 7)
 *   out = clamp(MultiplyByQuantizedMultiplierSmallerThanOneExp((s_1 - s_2)^2, output_multiplier, output_shift)
 *               + rq.output_offset, rq.act_min, rq.act_max)
 * every multiplier below 1 (shifts <= 0), double rounding (rq.rounding is EDGEQ_ROUND_DOUBLE). int32: the plain square of the difference (two's
 * complement wrap-around). float32: float32_squared_difference.h. */
#ifndef EDGEQ_SQUARED_DIFFERENCE_H
#define EDGEQ_SQUARED_DIFFERENCE_H
#include "edgeq_common.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t input1_offset;  /* -input1 zero point */
  int32_t input2_offset;  /* -input2 zero point */
  int32_t left_shift;     /* 7 */
  int32_t input1_multiplier;
  int32_t input1_shift;
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_multiplier;
  int32_t output_shift;
  edgeq_requant_t rq;
} edgeq_squared_difference_s8_params;

void edgeq_squared_difference_s8(const edgeq_squared_difference_s8_params *p, const int8_t *in1, const int8_t *in2,
                                 int8_t *out);

typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
} edgeq_squared_difference_i32_params;

void edgeq_squared_difference_i32(const edgeq_squared_difference_i32_params *p, const int32_t *in1,
                                  const int32_t *in2, int32_t *out);

#endif
