#ifndef EDGEQ_INT16_ACTIVATIONS_H
#define EDGEQ_INT16_ACTIVATIONS_H
#include "edgeq_common.h"

/* int16 unary ops LiteRT computes through a 513-entry table (LUTPopulate<int16_t> at Prepare time, GELU):
 * out[i] = LUTLookup(in[i], lut) (edgeq_lut_lookup_s16; the 16x8 zero points are 0). */
typedef struct {
  int32_t size;
  const int16_t *lut; /* [513] */
} edgeq_lut_s16_params;

void edgeq_lut_s16(const edgeq_lut_s16_params *p, const int16_t *in, int16_t *out);

#endif
