/* edgeq: CONV_2D and DEPTHWISE_CONV_2D on float32 NHWC tensors, as TFLite's float reference kernels
 * (reference_ops::Conv / reference_ops::DepthwiseConv).
 *
 * The accumulation order is the reference's (filter row, filter column, input channel; padded taps
 * skipped), then the bias is added and the fused activation clamps: with IEEE single precision and no
 * contraction into fused multiply-adds (-std=c99/c11 implies -ffp-contract=off) the result is the
 * reference's, and edgeq checks it against LiteRT within a stated tolerance (see edgeq/quality/compare.py).
 *
 * Weight-only int8 (weights_s8 set, weights NULL): each weight w becomes (float)w * scales[oc], the value
 * LiteRT's DEQUANTIZE of the weight tensor gives it, so the sums are those of the float kernel on the
 * dequantized weights, and no float copy of the weights exists. edgeq_conv_f32_s8w works output row by
 * output row and, within a row, output channel by output channel: it dequantizes that channel's filter
 * (k_h * k_w * filter_in_c floats) into its scratch and computes the channel for every pixel of the row, so
 * each weight is converted out_h times instead of out_h * out_w times (converting it at every multiply costs
 * about half again the float kernel's instructions), and output rows still come in raster order (the output
 * may overlap the input by a per-row margin). edgeq_depthwise_conv_f32 converts each weight in its inner
 * loop (a depthwise weight is one tap of one channel: there is no filter to reuse across channels). */
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
  const int8_t *weights_s8; /* edgeq_conv_f32_s8w: [out_c][k_h][k_w][filter_in_c]; else NULL */
  const float *scales;      /* edgeq_conv_f32_s8w: [out_c], weight = (float)w * scales[oc]; else NULL */
} edgeq_conv_f32_params;

void edgeq_conv_f32(const edgeq_conv_f32_params *p, const float *in, float *out);

/* weight-only int8 CONV_2D: weights_s8 and scales set; output rows in raster order, each row channel by
 * channel (one dequantized filter in scratch) */
void edgeq_conv_f32_s8w(const edgeq_conv_f32_params *p, const float *in, float *out, void *scratch);
#define edgeq_conv_f32_s8w_scratch_bytes(k_h, k_w, filter_in_c) \
  ((size_t)(k_h) * (size_t)(k_w) * (size_t)(filter_in_c) * sizeof(float))

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
