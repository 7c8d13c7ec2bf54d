/* edgeq: LOG_SOFTMAX over the last axis on float32 tensors, as LiteRT's reference_ops::LogSoftmax: per row,
 * m = max, sum = sum of exp(x - m) in index order, out = x - m - log(sum), with edgeq's own exp and log
 * (edgeq_common.h): within the stated float tolerance of LiteRT's libm. */
#ifndef EDGEQ_FLOAT32_LOG_SOFTMAX_H
#define EDGEQ_FLOAT32_LOG_SOFTMAX_H
#include "edgeq_common.h"

typedef struct {
  int32_t outer; /* rows */
  int32_t depth; /* values per row (the last axis) */
} edgeq_log_softmax_f32_params;

void edgeq_log_softmax_f32(const edgeq_log_softmax_f32_params *p, const float *in, float *out);

#endif
