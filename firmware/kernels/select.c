#include "select.h"

#define EDGEQ_SEL_T int8_t
#define EDGEQ_SEL_NAME edgeq_select_s8
#include "select_impl.h"
