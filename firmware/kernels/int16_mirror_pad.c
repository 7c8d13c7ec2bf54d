#include "int16_mirror_pad.h"

#include <string.h>

#define EDGEQ_MP_T int16_t
#define EDGEQ_MP_NAME edgeq_mirror_pad_s16
#include "mirror_pad_impl.h"
