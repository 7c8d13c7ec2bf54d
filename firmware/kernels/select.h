/* edgeq: SELECT and SELECT_V2, out = cond ? x : y element by element, with broadcasting of all three operands
 * (SELECT_V2: numpy rules; SELECT: a scalar condition, or a rank-1 condition over the first dimension, which
 * the lowering describes as the same walk). Values are copied as stored: LiteRT's select.cc does not requantize
 * (the converter gives x, y and the output one scale). One body for every element size (select_impl.h).
 *
 * The output is walked as `ndim` collapsed dimensions `shape` with per-operand element strides (0 where
 * broadcast): stride_c for the condition, stride_x, stride_y for the values. */
#ifndef EDGEQ_SELECT_H
#define EDGEQ_SELECT_H
#include "edgeq_common.h"

#define EDGEQ_SELECT_MAX_DIMS 8

typedef struct {
  int32_t ndim;
  const int32_t *shape;    /* [ndim] output extents, outermost first */
  const int32_t *stride_c; /* [ndim] element strides of the condition (0 = broadcast) */
  const int32_t *stride_x; /* [ndim] of x */
  const int32_t *stride_y; /* [ndim] of y */
} edgeq_select_params;

typedef edgeq_select_params edgeq_select_s8_params;

void edgeq_select_s8(const edgeq_select_s8_params *p, const uint8_t *cond, const int8_t *x, const int8_t *y,
                     int8_t *out);

#endif
