/* edgeq: L2_NORMALIZATION on int8 tensors, as LiteRT's reference_integer_ops::L2Normalization.
 *
 * Along the innermost axis (depth), per row: acc = sum (x - zp)^2; 1 / sqrt(acc) as a Q31 multiplier and
 * shift (GetInvSqrtQuantizedMultiplierExp: gemmlowp Newton-Raphson, done here at run time since acc is
 * data); out = clamp(MultiplyByQuantizedMultiplier(x - zp, m, shift + 7), -128, 127). The output scale is
 * 1/128 with zero point 0 (LiteRT's Prepare requires it). */
#ifndef EDGEQ_L2_NORMALIZATION_H
#define EDGEQ_L2_NORMALIZATION_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer; /* rows */
  int32_t depth; /* elements per row (the innermost axis) */
  int32_t input_offset; /* -input zero point */
  edgeq_requant_t rq;   /* output offset 0, clamp [-128, 127], rounding */
} edgeq_l2_normalization_s8_params;

void edgeq_l2_normalization_s8(const edgeq_l2_normalization_s8_params *p, const int8_t *in, int8_t *out);

#endif
