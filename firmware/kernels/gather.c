#include "gather.h"

#include <string.h>

#define EDGEQ_GA_T int8_t
#define EDGEQ_GA_NAME edgeq_gather_s8
#include "gather_impl.h"
