#include "int16_select.h"

#define EDGEQ_SEL_T int16_t
#define EDGEQ_SEL_NAME edgeq_select_s16
#include "select_impl.h"
