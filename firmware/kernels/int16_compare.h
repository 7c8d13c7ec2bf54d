/* edgeq: comparisons of int16 tensors (bool output), as LiteRT 2.3's comparisons.cc: EQUAL and NOT_EQUAL
 * rescale both operands as the int8 comparisons do (left shift 8, each input's scale as its multiplier:
 * edgeq_compare_scaled_s16), LESS, LESS_EQUAL, GREATER and GREATER_EQUAL compare the stored values
 * (edgeq_compare_s16). Parameters and body: compare.h, compare_impl.h. */
#ifndef EDGEQ_INT16_COMPARE_H
#define EDGEQ_INT16_COMPARE_H
#include "compare.h"

typedef edgeq_compare_params edgeq_compare_s16_params;
typedef edgeq_compare_scaled_params edgeq_compare_scaled_s16_params;

void edgeq_compare_s16(const edgeq_compare_s16_params *p, const int16_t *in1, const int16_t *in2, uint8_t *out);
void edgeq_compare_scaled_s16(const edgeq_compare_scaled_s16_params *p, const int16_t *in1, const int16_t *in2,
                              uint8_t *out);

#endif
