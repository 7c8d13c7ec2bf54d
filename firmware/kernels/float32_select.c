#include "float32_select.h"

#define EDGEQ_SEL_T float
#define EDGEQ_SEL_NAME edgeq_select_f32
#include "select_impl.h"
