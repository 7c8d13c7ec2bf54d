#include "float32_strided_copy.h"

#include <string.h>

#define EDGEQ_SC_T float
#define EDGEQ_SC_NAME edgeq_strided_copy_f32
#include "strided_copy_impl.h"
