#include "batch_matmul.h"

#define EDGEQ_BMM_T int8_t
#define EDGEQ_BMM_ACC_T int32_t
#define EDGEQ_BMM_TERM(l, r) (((int32_t)(l) + p->lhs_offset) * ((int32_t)(r) + p->rhs_offset))
#define EDGEQ_BMM_OUT(p, acc) ((int8_t)edgeq_requant_clamp(&(p)->rq, (acc), (p)->mult, (p)->shift))
#define EDGEQ_BMM_PARAMS edgeq_batch_matmul_s8_params
#define EDGEQ_BMM_FN edgeq_batch_matmul_s8
#include "batch_matmul_impl.h"
