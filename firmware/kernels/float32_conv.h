/* edgeq: CONV_2D and DEPTHWISE_CONV_2D on float32 NHWC tensors, as TFLite's float reference kernels
 * (reference_ops::Conv / reference_ops::DepthwiseConv).
 *
 * The accumulation order is the reference's (filter row, filter column, input channel; padded taps
 * skipped), then the bias is added and the fused activation clamps: with IEEE single precision and no
 * contraction into fused multiply-adds (-std=c99/c11 implies -ffp-contract=off) the result is the
 * reference's, and edgeq checks it against LiteRT within a stated tolerance (see edgeq/quality/compare.py).
 *
 * Weight-only int8 (weights_s8 set, weights NULL): each weight is read as int8 and becomes
 * (float)w * scales[oc] in the inner loop, the value LiteRT's DEQUANTIZE of the weight tensor gives it, so
 * the sums are those of the float kernel on the dequantized weights; no float copy of the weights exists. */
#ifndef EDGEQ_FLOAT32_CONV_H
#define EDGEQ_FLOAT32_CONV_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;
  int32_t in_h;
  int32_t in_w;
  int32_t in_c;
  int32_t out_h;
  int32_t out_w;
  int32_t out_c;
  int32_t k_h;
  int32_t k_w;
  int32_t filter_in_c; /* in_c / groups */
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t pad_h;
  int32_t pad_w;
  float act_min;
  float act_max;
  const float *weights;     /* [out_c][k_h][k_w][filter_in_c], or NULL when weights_s8 is set */
  const float *bias;        /* [out_c] or NULL */
  const int8_t *weights_s8; /* weight-only int8: [out_c][k_h][k_w][filter_in_c], or NULL */
  const float *scales;      /* with weights_s8: [out_c], weight = (float)w * scales[oc] */
} edgeq_conv_f32_params;

void edgeq_conv_f32(const edgeq_conv_f32_params *p, const float *in, float *out);

typedef struct {
  int32_t batches;
  int32_t in_h;
  int32_t in_w;
  int32_t in_c;
  int32_t out_h;
  int32_t out_w;
  int32_t out_c;
  int32_t k_h;
  int32_t k_w;
  int32_t depth_mult;
  int32_t stride_h;
  int32_t stride_w;
  int32_t dilation_h;
  int32_t dilation_w;
  int32_t pad_h;
  int32_t pad_w;
  float act_min;
  float act_max;
  const float *weights;     /* [1][k_h][k_w][out_c], or NULL when weights_s8 is set */
  const float *bias;        /* [out_c] or NULL */
  const int8_t *weights_s8; /* weight-only int8: [1][k_h][k_w][out_c], or NULL */
  const float *scales;      /* with weights_s8: [out_c], weight = (float)w * scales[oc] */
} edgeq_depthwise_conv_f32_params;

void edgeq_depthwise_conv_f32(const edgeq_depthwise_conv_f32_params *p, const float *in, float *out);

#endif
