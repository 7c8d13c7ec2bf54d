#include "float32_gather.h"

#include <string.h>

#define EDGEQ_GA_T float
#define EDGEQ_GA_NAME edgeq_gather_f32
#include "gather_impl.h"
