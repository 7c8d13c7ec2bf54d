#include "mirror_pad.h"

#include <string.h>

#define EDGEQ_MP_T int8_t
#define EDGEQ_MP_NAME edgeq_mirror_pad_s8
#include "mirror_pad_impl.h"
