#include "float32_minimum_maximum.h"

#define EDGEQ_MM_T float
#define EDGEQ_MM_NAME edgeq_minimum_maximum_f32
#include "minimum_maximum_impl.h"
