#ifndef EDGEQ_INT16_BATCH_MATMUL_H
#define EDGEQ_INT16_BATCH_MATMUL_H
#include "edgeq_common.h"

/* BATCH_MATMUL of two int16 tensors (16x8 scheme: zero points 0), as LiteRT's
 * reference_ops::BatchMatMul<int16_t, int64_t>: acc = sum_k lhs[r][k] * rhs[k][c] in int64, then the int64
 * MultiplyByQuantizedMultiplier (edgeq_requant_s64: `reduced` 16-bit multiplier, one rounding shift by
 * `total_shift`), + output zero point, clamped to int16. The geometry fields are those of every
 * BATCH_MATMUL kernel (batch_matmul.h). */
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
  int32_t reduced_mult;
  int32_t total_shift;
  int32_t output_offset;
} edgeq_batch_matmul_s16_params;

void edgeq_batch_matmul_s16(const edgeq_batch_matmul_s16_params *p, const int16_t *lhs, const int16_t *rhs,
                            int16_t *out);

#endif
