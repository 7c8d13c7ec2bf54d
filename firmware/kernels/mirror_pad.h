/* edgeq: MIRROR_PAD on int8 tensors (int16_mirror_pad.h and float32_mirror_pad.h take the same parameters
 * in their element type; one body, mirror_pad_impl.h).
 *
 * LiteRT's reference kernel (kernels/mirror_pad.cc) copies elements: each output index of each dimension
 * reads one input index (REFLECT mirrors around the edge element, SYMMETRIC repeats it). Those indices are
 * resolved at generation time into one table per dimension, already multiplied by the input stride:
 *   out[i0][i1][i2][i3][i4] = in[index[start[0] + i0] + ... + index[start[4] + i4]]
 * with the shapes padded to EDGEQ_MIRROR_PAD_DIMS leading dimensions of 1. When the innermost dimension is
 * not padded (inner_copy), its rows are copied whole. */
#ifndef EDGEQ_MIRROR_PAD_H
#define EDGEQ_MIRROR_PAD_H
#include "edgeq_common.h"

#define EDGEQ_MIRROR_PAD_DIMS 5

typedef struct {
  int32_t inner_copy;       /* 1: the innermost dimension is unpadded, rows are contiguous in the input */
  const int32_t *out_shape; /* [EDGEQ_MIRROR_PAD_DIMS] */
  const int32_t *start;     /* [EDGEQ_MIRROR_PAD_DIMS] where each dimension's table starts in index */
  const int32_t *index;     /* [sum of out_shape] input element offsets */
} edgeq_mirror_pad_params;

void edgeq_mirror_pad_s8(const edgeq_mirror_pad_params *p, const int8_t *in, int8_t *out);

#endif
