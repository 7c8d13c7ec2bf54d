/* Body of the BATCH_MATMUL kernels for one element type (see batch_matmul.h for the parameters). Not a
 * header of its own: a kernel source defines
 *   EDGEQ_BMM_T        element type (int8_t, int16_t, float)
 *   EDGEQ_BMM_ACC_T    accumulator type (int32_t, int64_t, float)
 *   EDGEQ_BMM_TERM(l, r)  one product of an lhs and an rhs element, in the accumulator type
 *   EDGEQ_BMM_OUT(p, acc) the output element of an accumulated sum
 *   EDGEQ_BMM_PARAMS   the params struct type, EDGEQ_BMM_FN the public kernel name
 * and optionally EDGEQ_BMM_RHS_T (the rhs element type, default EDGEQ_BMM_T) and EDGEQ_BMM_COL(p, c) of type
 * EDGEQ_BMM_COL_T (a value of output column c, named col in EDGEQ_BMM_TERM: weight-only int8's scale of rhs
 * column c; default none),
 * and then includes this file once. The loops are LiteRT's reference_ops::BatchMatMul: for each of the
 * up to three broadcast batch dimensions, each output row and column, acc = sum over k in increasing
 * order starting from zero. */

#ifndef EDGEQ_BMM_RHS_T
#define EDGEQ_BMM_RHS_T EDGEQ_BMM_T
#endif
#ifndef EDGEQ_BMM_COL
#define EDGEQ_BMM_COL(p, c) 0
#define EDGEQ_BMM_COL_T int32_t
#endif

void EDGEQ_BMM_FN(const EDGEQ_BMM_PARAMS *p, const EDGEQ_BMM_T *lhs, const EDGEQ_BMM_RHS_T *rhs, EDGEQ_BMM_T *out) {
  int32_t b0, b1, b2, r, c, k;
  for (b0 = 0; b0 < p->batch[0]; ++b0) {
    for (b1 = 0; b1 < p->batch[1]; ++b1) {
      for (b2 = 0; b2 < p->batch[2]; ++b2) {
        const EDGEQ_BMM_T *l = lhs + b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                               b2 * p->lhs_batch_stride[2];
        const EDGEQ_BMM_RHS_T *rt = rhs + b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                                b2 * p->rhs_batch_stride[2];
        for (r = 0; r < p->rows; ++r) {
          const EDGEQ_BMM_T *lr = l + r * p->lhs_row_stride;
          for (c = 0; c < p->cols; ++c) {
            const EDGEQ_BMM_RHS_T *rc = rt + c * p->rhs_col_stride;
            const EDGEQ_BMM_COL_T col = EDGEQ_BMM_COL(p, c);
            EDGEQ_BMM_ACC_T acc = 0;
            (void)col;
            for (k = 0; k < p->depth; ++k) {
              acc += EDGEQ_BMM_TERM(lr[k * p->lhs_depth_stride], rc[k * p->rhs_depth_stride]);
            }
            *out++ = EDGEQ_BMM_OUT(p, acc);
          }
        }
      }
    }
  }
}
