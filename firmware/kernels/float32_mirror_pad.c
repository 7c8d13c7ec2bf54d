#include "float32_mirror_pad.h"

#include <string.h>

#define EDGEQ_MP_T float
#define EDGEQ_MP_NAME edgeq_mirror_pad_f32
#include "mirror_pad_impl.h"
