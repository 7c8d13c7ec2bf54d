#ifndef EDGEQ_BATCH_MATMUL_H
#define EDGEQ_BATCH_MATMUL_H
#include "edgeq_common.h"

/* BATCH_MATMUL of two int8 tensors, as LiteRT's reference_ops::BatchMatMul<int8_t, int32_t>:
 *   out[b][r][c] = clamp(requant(sum_k (lhs[b][r][k] + lhs_offset) * (rhs[b][k][c] + rhs_offset))
 *                        + output_offset, act_min, act_max)
 * with the output multiplier QuantizeMultiplier((double)(lhs_scale * rhs_scale) / out_scale).
 *
 * Geometry (every BATCH_MATMUL kernel): the output is batch[0] x batch[1] x batch[2] x rows x cols,
 * row-major. An operand's element (b0, b1, b2, r, k) / (b0, b1, b2, k, c) lies at
 * sum(b_i * batch_stride[i]) + r * lhs_row_stride + k * lhs_depth_stride (lhs) and
 * sum(b_i * batch_stride[i]) + k * rhs_depth_stride + c * rhs_col_stride (rhs), in elements: adj_x /
 * adj_y are transposed strides, a broadcast batch dimension has stride 0. */
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
  int32_t lhs_offset; /* -lhs zero point */
  int32_t rhs_offset; /* -rhs zero point */
  int32_t mult;
  int32_t shift;
  edgeq_requant_t rq;
} edgeq_batch_matmul_s8_params;

void edgeq_batch_matmul_s8(const edgeq_batch_matmul_s8_params *p, const int8_t *lhs, const int8_t *rhs,
                           int8_t *out);

#endif
