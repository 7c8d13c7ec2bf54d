#include "float32_arg_min_max.h"

#define EDGEQ_AM_T float
#define EDGEQ_AM_NAME edgeq_arg_min_max_f32
#include "arg_min_max_impl.h"
