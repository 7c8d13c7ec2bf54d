/* edgeq: LOG_SOFTMAX over the last axis, int8 in and out (output scale 16/256, zero point 127), as LiteRT's
 * reference_integer_ops::LogSoftmax (TFLM runs the same code). Per row of `depth` values with maximum m:
 *   sum  = sum over d = x - m >= diff_min of Rescale<12>(exp_on_negative_values<5>(requant(d, input_multiplier,
 *          input_left_shift)))                                 (Q12 accumulator)
 *   L    = log_x_for_x_greater_than_or_equal_to_1<5>(sum)   (Q5.26)
 *   adj  = max(diff_min - 1, requant(L + INT32_MIN, reverse_multiplier, reverse_shift))
 *   out  = d > adj ? clamp(RoundingDivideByPOT(requant(d, ...) - L, 22) + 127) : -128
 * The rescaling of d is a left shift (either rounding gives the same); the reverse scaling rounds in the op's
 * `rounding` flavour. */
#ifndef EDGEQ_LOG_SOFTMAX_H
#define EDGEQ_LOG_SOFTMAX_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer;              /* rows */
  int32_t depth;              /* values per row (the last axis), below 4096 */
  int32_t input_multiplier;   /* PreprocessLogSoftmaxScalingExp, beta 1, 5 integer bits */
  int32_t input_left_shift;
  int32_t reverse_multiplier; /* reverse_scaling_divisor */
  int32_t reverse_shift;      /* its (left) shift, <= 0 */
  int32_t diff_min;           /* -CalculateInputRadius(5, input_left_shift) */
  int32_t rounding;           /* EDGEQ_ROUND_* */
} edgeq_log_softmax_s8_params;

void edgeq_log_softmax_s8(const edgeq_log_softmax_s8_params *p, const int8_t *in, int8_t *out);

#endif
