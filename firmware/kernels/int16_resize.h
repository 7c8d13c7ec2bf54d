/* edgeq: RESIZE_BILINEAR on int16 tensors (TFLite 16x8): resize.h's parameters in int16 elements, the same
 * code (one body, resize_bilinear_impl.h) with an int64 accumulator. LiteRT runs ResizeBilinearInteger on
 * int16 as on int8: no requantization. */
#ifndef EDGEQ_INT16_RESIZE_H
#define EDGEQ_INT16_RESIZE_H
#include "resize.h"

typedef edgeq_resize_bilinear_s8_params edgeq_resize_bilinear_s16_params;

void edgeq_resize_bilinear_s16(const edgeq_resize_bilinear_s16_params *p, const int16_t *in, int16_t *out);

#endif
