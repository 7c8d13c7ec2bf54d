#include "int16_reduce.h"

#define EDGEQ_RED_T int16_t
#define EDGEQ_RED_LO (-32768)
#define EDGEQ_RED_HI 32767
#define EDGEQ_RED_PARAMS edgeq_reduce_s16_params
#define EDGEQ_RED_MEAN edgeq_mean_s16
#define EDGEQ_RED_SUM_FN edgeq_sum_s16
#define EDGEQ_RED_MAX_FN edgeq_reduce_max_s16
#define EDGEQ_RED_MIN_FN edgeq_reduce_min_s16
#include "reduce_impl.h"
