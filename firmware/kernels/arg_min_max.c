#include "arg_min_max.h"

#define EDGEQ_AM_T int8_t
#define EDGEQ_AM_NAME edgeq_arg_min_max_s8
#include "arg_min_max_impl.h"
