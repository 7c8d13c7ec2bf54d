/* edgeq: MIRROR_PAD on float32 tensors: mirror_pad.h's parameters counted in float elements, the same code
 * (one body, mirror_pad_impl.h). */
#ifndef EDGEQ_FLOAT32_MIRROR_PAD_H
#define EDGEQ_FLOAT32_MIRROR_PAD_H
#include "mirror_pad.h"

typedef edgeq_mirror_pad_params edgeq_mirror_pad_f32_params;

void edgeq_mirror_pad_f32(const edgeq_mirror_pad_f32_params *p, const float *in, float *out);

#endif
