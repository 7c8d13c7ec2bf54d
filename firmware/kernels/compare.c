#include "compare.h"

#define EDGEQ_CMP_T int8_t
#define EDGEQ_CMP_PARAMS edgeq_compare_s8_params
#define EDGEQ_CMP_NAME edgeq_compare_s8
#define EDGEQ_CMP_VALUE(x, k) EDGEQ_CMP_RESCALE(x, k)
#define EDGEQ_CMP_APPLY edgeq_cmp_apply_i32
#include "compare_impl.h"
