#include "float32_batch_matmul.h"

#define EDGEQ_BMM_T float
#define EDGEQ_BMM_ACC_T float
#define EDGEQ_BMM_TERM(l, r) ((l) * (r))
#define EDGEQ_BMM_OUT(p, acc) (acc)
#define EDGEQ_BMM_PARAMS edgeq_batch_matmul_f32_params
#define EDGEQ_BMM_FN edgeq_batch_matmul_f32
#include "batch_matmul_impl.h"
