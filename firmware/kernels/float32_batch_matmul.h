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
} edgeq_batch_matmul_f32_params;

void edgeq_batch_matmul_f32(const edgeq_batch_matmul_f32_params *p, const float *lhs, const float *rhs,
                            float *out);

#endif
