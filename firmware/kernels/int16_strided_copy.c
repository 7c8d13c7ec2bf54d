#include "int16_strided_copy.h"

#include <string.h>

#define EDGEQ_SC_T int16_t
#define EDGEQ_SC_NAME edgeq_strided_copy_s16
#include "strided_copy_impl.h"
