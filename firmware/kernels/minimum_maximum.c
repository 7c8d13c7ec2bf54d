#include "minimum_maximum.h"

#define EDGEQ_MM_T int8_t
#define EDGEQ_MM_NAME edgeq_minimum_maximum_s8
#include "minimum_maximum_impl.h"
#undef EDGEQ_MM_T
#undef EDGEQ_MM_NAME

#define EDGEQ_MM_T int32_t
#define EDGEQ_MM_NAME edgeq_minimum_maximum_i32
#include "minimum_maximum_impl.h"
