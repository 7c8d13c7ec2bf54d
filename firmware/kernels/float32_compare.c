#include "float32_compare.h"

#define EDGEQ_CMP_T float
#define EDGEQ_CMP_PARAMS edgeq_compare_f32_params
#define EDGEQ_CMP_NAME edgeq_compare_f32
#define EDGEQ_CMP_VALUE(x, k) (x)
#define EDGEQ_CMP_APPLY edgeq_cmp_apply_f32
#include "compare_impl.h"
