#include "strided_copy.h"

#include <string.h>

#define EDGEQ_SC_T int8_t
#define EDGEQ_SC_NAME edgeq_strided_copy_s8
#include "strided_copy_impl.h"
