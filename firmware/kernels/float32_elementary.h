/* edgeq: float32 SQUARE, FLOOR and ROUND, as LiteRT's float reference kernels compute them (exactly, no
 * libm): SQUARE x * x (elementwise.cc); FLOOR floorf (floor.cc); ROUND RoundToNearest (round.cc: half to
 * even, from the floor and the difference: diff < 0.5, or diff == 0.5 and floor even, keeps the floor). */
#ifndef EDGEQ_FLOAT32_ELEMENTARY_H
#define EDGEQ_FLOAT32_ELEMENTARY_H
#include "edgeq_common.h"

typedef struct {
  int32_t size;
} edgeq_elementary_f32_params;

void edgeq_square_f32(const edgeq_elementary_f32_params *p, const float *in, float *out);
void edgeq_floor_f32(const edgeq_elementary_f32_params *p, const float *in, float *out);
void edgeq_round_f32(const edgeq_elementary_f32_params *p, const float *in, float *out);

#endif
