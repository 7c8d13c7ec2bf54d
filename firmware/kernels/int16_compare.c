#include "int16_compare.h"

#define EDGEQ_CMP_T int16_t
#define EDGEQ_CMP_APPLY edgeq_cmp_apply_i32

#define EDGEQ_CMP_PARAMS edgeq_compare_s16_params
#define EDGEQ_CMP_NAME edgeq_compare_s16
#define EDGEQ_CMP_VALUE(x, k) ((int32_t)(x))
#include "compare_impl.h"
#undef EDGEQ_CMP_PARAMS
#undef EDGEQ_CMP_NAME
#undef EDGEQ_CMP_VALUE

#define EDGEQ_CMP_PARAMS edgeq_compare_scaled_s16_params
#define EDGEQ_CMP_NAME edgeq_compare_scaled_s16
#define EDGEQ_CMP_VALUE(x, k) EDGEQ_CMP_RESCALE(x, k)
#include "compare_impl.h"
