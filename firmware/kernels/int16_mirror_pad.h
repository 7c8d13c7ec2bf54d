/* edgeq: MIRROR_PAD on int16 tensors: mirror_pad.h's parameters counted in int16 elements, the same code
 * (one body, mirror_pad_impl.h). */
#ifndef EDGEQ_INT16_MIRROR_PAD_H
#define EDGEQ_INT16_MIRROR_PAD_H
#include "mirror_pad.h"

typedef edgeq_mirror_pad_params edgeq_mirror_pad_s16_params;

void edgeq_mirror_pad_s16(const edgeq_mirror_pad_s16_params *p, const int16_t *in, int16_t *out);

#endif
