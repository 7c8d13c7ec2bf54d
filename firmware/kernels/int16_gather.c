#include "int16_gather.h"

#include <string.h>

#define EDGEQ_GA_T int16_t
#define EDGEQ_GA_NAME edgeq_gather_s16
#include "gather_impl.h"
