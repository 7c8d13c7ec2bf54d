#include "reduce.h"

#define EDGEQ_RED_T int8_t
#define EDGEQ_RED_LO (-128)
#define EDGEQ_RED_HI 127
#define EDGEQ_RED_PARAMS edgeq_reduce_s8_params
#define EDGEQ_RED_MEAN edgeq_mean_s8
#define EDGEQ_RED_SUM_FN edgeq_sum_s8
#define EDGEQ_RED_MAX_FN edgeq_reduce_max_s8
#define EDGEQ_RED_MIN_FN edgeq_reduce_min_s8
#include "reduce_impl.h"
