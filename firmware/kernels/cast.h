/* edgeq: CAST between int8, uint8, int16, int32, int64, float32 and bool tensors, as LiteRT's cast.cc
 * (copyCast: static_cast of each stored value; quantization parameters are not looked at, so an int8 cast to
 * float32 gives the stored integer, not the dequantized value).
 *   integer -> integer: two's complement wrap-around to the narrower type;
 *   integer -> float32: rounded to nearest (one rounding, from the integer);
 *   float32 -> integer: truncation toward zero. Out of the destination's range (and NaN) C++ leaves the
 *     result undefined and LiteRT's differs by CPU; edgeq saturates to the type's range (NaN -> 0);
 *   anything -> bool: value != 0 (stored as uint8_t 0 / 1); bool -> anything: 0 or 1. */
#ifndef EDGEQ_CAST_H
#define EDGEQ_CAST_H
#include "edgeq_common.h"

/* element type codes (edgeq/passes/lower/int8/cast.py CAST_TYPES) */
#define EDGEQ_CAST_INT8 0
#define EDGEQ_CAST_UINT8 1
#define EDGEQ_CAST_INT16 2
#define EDGEQ_CAST_INT32 3
#define EDGEQ_CAST_INT64 4
#define EDGEQ_CAST_FLOAT32 5
#define EDGEQ_CAST_BOOL 6

typedef struct {
  int32_t size;    /* elements */
  int32_t in_type; /* EDGEQ_CAST_* */
  int32_t out_type;
} edgeq_cast_params;

void edgeq_cast(const edgeq_cast_params *p, const void *in, void *out);

#endif
