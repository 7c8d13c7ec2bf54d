#ifndef EDGEQ_SOFTMAX_H
#define EDGEQ_SOFTMAX_H
#include "edgeq_common.h"

/* SOFTMAX (LiteRT and TFLM reference) over the last axis of an int8 tensor, output scale 1/256 and zero
 * point -128, in gemmlowp's fixed point (edgeq_fixedpoint.h).
 * For each row: diff = x - max(row); rows entries with diff < diff_min contribute nothing and give
 * -128; otherwise exp(diff * input_multiplier * 2^input_left_shift) in Q5.26 -> Q0.31, summed in
 * Q12.19, then multiplied by the fixed-point reciprocal of the sum. */
typedef struct {
  int32_t outer;            /* number of rows */
  int32_t depth;            /* row length (size of the last axis) */
  int32_t input_multiplier; /* beta * input_scale * 2^26 as a Q31 multiplier ... */
  int32_t input_left_shift; /* ... and its left shift (>= 0) */
  int32_t diff_min;         /* <= 0 */
  int32_t rounding;         /* how diff is rescaled: EDGEQ_ROUND_SINGLE or EDGEQ_ROUND_DOUBLE */
} edgeq_softmax_s8_params;

void edgeq_softmax_s8(const edgeq_softmax_s8_params *p, const int8_t *in, int8_t *out);

#endif
