#include "int16_shape_ops.h"

#include <string.h>

static void edgeq_sh_fill(int16_t *out, int32_t v, size_t n) {
  size_t k;
  for (k = 0; k < n; ++k) out[k] = (int16_t)v;
}

#define EDGEQ_SH_T int16_t
#define EDGEQ_SH_LO (-32768)
#define EDGEQ_SH_HI 32767
#define EDGEQ_SH_CONCAT_PARAMS edgeq_concat_s16_params
#define EDGEQ_SH_PAD_PARAMS edgeq_pad_s16_params
#define EDGEQ_SH_CONCAT edgeq_concat_s16
#define EDGEQ_SH_PAD edgeq_pad_s16
#include "shape_impl.h"
