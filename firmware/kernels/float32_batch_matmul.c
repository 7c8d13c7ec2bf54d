#include "float32_batch_matmul.h"

#define EDGEQ_BMM_T float
#define EDGEQ_BMM_ACC_T float
#define EDGEQ_BMM_TERM(l, r) ((l) * (r))
#define EDGEQ_BMM_OUT(p, acc) (acc)
#define EDGEQ_BMM_PARAMS edgeq_batch_matmul_f32_params
#define EDGEQ_BMM_FN edgeq_batch_matmul_f32
#include "batch_matmul_impl.h"
#undef EDGEQ_BMM_TERM
#undef EDGEQ_BMM_FN
#undef EDGEQ_BMM_RHS_T
#undef EDGEQ_BMM_COL
#undef EDGEQ_BMM_COL_T

/* weight-only int8 rhs: each rhs element is (float)r * scales[column], LiteRT's DEQUANTIZE value */
#define EDGEQ_BMM_RHS_T int8_t
#define EDGEQ_BMM_COL(p, c) ((p)->scales[c])
#define EDGEQ_BMM_COL_T float
#define EDGEQ_BMM_TERM(l, r) ((l) * ((float)(r) * col))
#define EDGEQ_BMM_FN edgeq_batch_matmul_f32_s8w
#include "batch_matmul_impl.h"
