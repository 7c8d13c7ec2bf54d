/* edgeq: DIV on int32 tensors with numpy-style broadcasting (the walk of elementwise.h, edgeq_bcast_iter), as
 * LiteRT's div.cc reference: out = clamp(in1 / in2, act_min, act_max), C division truncating toward zero.
 * LiteRT checks the divisor for zeros but ignores the result, so a zero divisor (and INT32_MIN / -1) is
 * undefined there; edgeq gives x / 0 = 0 and INT32_MIN / -1 = INT32_MIN instead of trapping. float32:
 * float32_div.h. int8 DIV is not implemented (edgeq/passes/lower/int8/div.py says why). */
#ifndef EDGEQ_DIV_H
#define EDGEQ_DIV_H
#include "edgeq_common.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t act_min;        /* the fused activation's clamp */
  int32_t act_max;
} edgeq_div_i32_params;

void edgeq_div_i32(const edgeq_div_i32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out);

/* FLOOR_DIV and FLOOR_MOD on int32 tensors (the walk above), as LiteRT's floor_div.cc / floor_mod.cc:
 *   FLOOR_DIV: floor((double)a / (double)b), the quotient rounded to double first as the reference does
 *              (so a quotient within a rounding of an integer gives that integer);
 *   FLOOR_MOD: r = a % b (C truncation), then r + b where r != 0 and r, b differ in sign.
 * LiteRT refuses a zero divisor at run time; edgeq gives 0 there (and wraps INT32_MIN / -1). */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  int32_t is_mod; /* 0: FLOOR_DIV, 1: FLOOR_MOD */
} edgeq_floor_div_mod_i32_params;

void edgeq_floor_div_mod_i32(const edgeq_floor_div_mod_i32_params *p, const int32_t *in1, const int32_t *in2,
                             int32_t *out);

/* floor(x) of a double without libm: exact (x itself when NaN, infinite, integral or a signed zero). */
EDGEQ_HELPER double edgeq_floor_d(double x) {
  double t;
  if (x != x || x == 0.0 || x >= 4503599627370496.0 || x <= -4503599627370496.0) return x; /* |x| >= 2^52 */
  t = (double)(int64_t)x; /* truncation toward zero */
  return t > x ? t - 1.0 : t;
}

#endif
