#include "int16_minimum_maximum.h"

#define EDGEQ_MM_T int16_t
#define EDGEQ_MM_NAME edgeq_minimum_maximum_s16
#include "minimum_maximum_impl.h"
