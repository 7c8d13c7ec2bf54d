/* edgeq: TRANSPOSE, TILE and SLICE as one strided n-D copy (int8 tensors; int16_strided_copy.h and
 * float32_strided_copy.h take the same parameters in their element type).
 *
 * None of these ops computes on the values: LiteRT's reference kernels (reference_ops::Transpose, Tile,
 * Slice) copy elements, whatever the quantization. Every index is resolved at generation time: output
 * element (i0, .., i5) is input element offset + sum_d i_d * step[d], with the axes of the op collapsed
 * to at most EDGEQ_COPY_MAX_DIMS (a transpose permutes the input strides, a tile repeats with step 0, a
 * slice starts at an offset), so the loops have a fixed depth and copy whole rows when the innermost
 * step is 1.
 */
#ifndef EDGEQ_STRIDED_COPY_H
#define EDGEQ_STRIDED_COPY_H
#include "edgeq_common.h"

#define EDGEQ_COPY_MAX_DIMS 6

typedef struct {
  int32_t offset;       /* element index of the first element read */
  const int32_t *count; /* [EDGEQ_COPY_MAX_DIMS] output extents, outermost first */
  const int32_t *step;  /* [EDGEQ_COPY_MAX_DIMS] input element step per output index (0: repeat) */
} edgeq_strided_copy_params;

void edgeq_strided_copy_s8(const edgeq_strided_copy_params *p, const int8_t *in, int8_t *out);

#endif
