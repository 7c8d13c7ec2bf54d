#ifndef EDGEQ_FLOAT32_BATCH_MATMUL_H
#define EDGEQ_FLOAT32_BATCH_MATMUL_H
#include "edgeq_common.h"

/* BATCH_MATMUL of two float32 tensors, as LiteRT's reference_ops::BatchMatMul: per output element
 * total = 0.0f, then total += lhs[r][k] * rhs[k][c] for k in increasing order. The geometry fields are
 * those of every BATCH_MATMUL kernel (batch_matmul.h). */
typedef struct {
  int32_t batch[3];
  int32_t lhs_batch_stride[3];
  int32_t rhs_batch_stride[3];
  int32_t rows;
  int32_t cols;
  int32_t depth;
  int32_t lhs_row_stride;
  int32_t lhs_depth_stride;
  int32_t rhs_depth_stride;
  int32_t rhs_col_stride;
  const float *scales; /* edgeq_batch_matmul_f32_s8w: [cols], rhs element = (float)r * scales[c]; else NULL */
} edgeq_batch_matmul_f32_params;

void edgeq_batch_matmul_f32(const edgeq_batch_matmul_f32_params *p, const float *lhs, const float *rhs,
                            float *out);

/* Weight-only int8: a constant int8 rhs (weights) with one scale per output column; the sums are those of
 * edgeq_batch_matmul_f32 on the dequantized rhs, with no float copy of it. */
void edgeq_batch_matmul_f32_s8w(const edgeq_batch_matmul_f32_params *p, const float *lhs, const int8_t *rhs,
                                float *out);

#endif
