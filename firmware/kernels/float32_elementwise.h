/* edgeq: float32 element-wise ops: ADD, SUB, MUL (numpy broadcasting) and the cheap activations
 * (RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, HARD_SWISH), as TFLite's float reference kernels.
 *
 * Each output element is one IEEE operation (or a fixed, short sequence of them) on its inputs, in the
 * reference's order, so results match LiteRT's reference kernels exactly on IEEE single-precision
 * hardware and in soft float. Broadcasting uses the same generation-time loop description as the int8
 * kernels (see elementwise.h): `ndim` collapsed output dimensions with per-input element strides. */
#ifndef EDGEQ_FLOAT32_ELEMENTWISE_H
#define EDGEQ_FLOAT32_ELEMENTWISE_H
#include "edgeq_common.h"

#define EDGEQ_F32_BCAST_MAX_DIMS 8

/* out = min(max(in1 (+|-|*) in2, act_min), act_max) */
typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  float act_min;
  float act_max;
} edgeq_binary_f32_params;

void edgeq_add_f32(const edgeq_binary_f32_params *p, const float *in1, const float *in2, float *out);
void edgeq_sub_f32(const edgeq_binary_f32_params *p, const float *in1, const float *in2, float *out);
void edgeq_mul_f32(const edgeq_binary_f32_params *p, const float *in1, const float *in2, float *out);

/* RELU family: out = min(max(in, lo), hi) */
typedef struct {
  int32_t size;
  float lo;
  float hi;
} edgeq_clamp_f32_params;

void edgeq_clamp_f32(const edgeq_clamp_f32_params *p, const float *in, float *out);

/* LEAKY_RELU: out = in > 0 ? in : in * alpha */
typedef struct {
  int32_t size;
  float alpha;
} edgeq_leaky_relu_f32_params;

void edgeq_leaky_relu_f32(const edgeq_leaky_relu_f32_params *p, const float *in, float *out);

/* HARD_SWISH: out = in * min(6, max(0, in + 3)) / 6 */
typedef struct {
  int32_t size;
} edgeq_hard_swish_f32_params;

void edgeq_hard_swish_f32(const edgeq_hard_swish_f32_params *p, const float *in, float *out);

#endif
