/* edgeq: LOGICAL_AND, LOGICAL_OR (numpy broadcasting) and LOGICAL_NOT on bool tensors (one byte per
 * element, 0 or 1), as LiteRT's logical.cc: out = a && b, a || b, !a, written as 0 / 1. The broadcast walk
 * is the one of minimum_maximum.h (edgeq_bcast_iter, laid out at generation time). */
#ifndef EDGEQ_LOGICAL_H
#define EDGEQ_LOGICAL_H
#include "edgeq_common.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t is_or;          /* 1: LOGICAL_OR, 0: LOGICAL_AND */
} edgeq_logical_params;

void edgeq_logical_b8(const edgeq_logical_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out);

typedef struct {
  int32_t size;
} edgeq_logical_not_params;

void edgeq_logical_not_b8(const edgeq_logical_not_params *p, const uint8_t *in, uint8_t *out);

#endif
