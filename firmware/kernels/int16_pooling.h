#ifndef EDGEQ_INT16_POOLING_H
#define EDGEQ_INT16_POOLING_H
#include "edgeq_common.h"

/* AVERAGE_POOL_2D / MAX_POOL_2D on int16 NHWC tensors, as reference_integer_ops' int16 pooling: the window
 * is clipped to the input, the average rounds half away from zero ((acc +/- count/2) / count), no
 * requantization, then the fused-activation clamp. */
typedef struct {
  int32_t batches, in_h, in_w, channels, out_h, out_w;
  int32_t filter_h, filter_w, stride_h, stride_w, pad_h, pad_w;
  int32_t act_min, act_max;
} edgeq_pool_s16_params;

void edgeq_avg_pool_s16(const edgeq_pool_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_max_pool_s16(const edgeq_pool_s16_params *p, const int16_t *in, int16_t *out);

#endif
