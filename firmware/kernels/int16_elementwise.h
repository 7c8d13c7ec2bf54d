#ifndef EDGEQ_INT16_ELEMENTWISE_H
#define EDGEQ_INT16_ELEMENTWISE_H
#include "edgeq_common.h"

/* ADD, SUB and MUL on int16 tensors with numpy-style broadcasting, as TFLite's 16x8 reference kernels.
 * Broadcasting: the output is walked as `ndim` collapsed dimensions (see elementwise.h; same constants,
 * computed by edgeq/passes/lower/int8/elementwise.py broadcast_loops). At most EDGEQ_S16_BCAST_MAX_DIMS dims. */
#define EDGEQ_S16_BCAST_MAX_DIMS 8

/* ADD, the general-scale path (pot_scale_int16 false): as int8 ADD with left_shift 15:
 *   s_k = requant((in_k + input<k>_offset) << left_shift, input<k>_multiplier, input<k>_shift)
 *   out = clamp(requant(s_1 + s_2, output_multiplier, output_shift) + rq.output_offset) */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  int32_t input1_offset, input2_offset;
  int32_t left_shift;
  int32_t input1_multiplier, input1_shift;
  int32_t input2_multiplier, input2_shift;
  int32_t output_multiplier, output_shift;
  edgeq_requant_t rq;
} edgeq_add_s16_params;

void edgeq_add_s16(const edgeq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
/* SUB: out = in1 - in2 with ADD's parameters (the scaled operands are subtracted, as int8 SUB). */
void edgeq_sub_s16(const edgeq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

/* MUL: out = clamp(requant((in1 + input1_offset) * (in2 + input2_offset)) + rq.output_offset) */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  int32_t input1_offset, input2_offset;
  int32_t output_multiplier, output_shift;
  edgeq_requant_t rq;
} edgeq_mul_s16_params;

void edgeq_mul_s16(const edgeq_mul_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);

#endif
