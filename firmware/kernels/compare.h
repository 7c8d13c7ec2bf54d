/* edgeq: the comparisons EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL with numpy-style
 * broadcasting; the output is bool (uint8_t 0 / 1). int8 as LiteRT's comparisons.cc ComparisonQuantized:
 * both operands are first brought to a common scale,
 *   v_k = MultiplyByQuantizedMultiplierSmallerThanOneExp((in_k + input<k>_offset) << left_shift,
 *                                                         input<k>_multiplier, input<k>_shift)
 * (left_shift 8; the multipliers are the input scales themselves, so v_k is the real value times 2^8 times
 * a common power of two), and v_1 <cmp> v_2 is stored. LiteRT 2.3 rescales int16 EQUAL / NOT_EQUAL the same
 * way and compares the stored values of the other int16 comparisons (int16_compare.h); float32 compares
 * values (float32_compare.h). The comparison codes are index_ops.h's EDGEQ_CMP_*.
 *
 * Broadcasting: the output is walked as `ndim` collapsed dimensions with per-input element strides (0 where
 * broadcast), as elementwise.h (edgeq_bcast_iter). One body for every element type (compare_impl.h). */
#ifndef EDGEQ_COMPARE_H
#define EDGEQ_COMPARE_H
#include "edgeq_common.h"
#include "index_ops.h"

typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t cmp;            /* EDGEQ_CMP_* */
  int32_t input1_offset;  /* -input1 zero point */
  int32_t input2_offset;  /* -input2 zero point */
  int32_t left_shift;     /* 8 */
  int32_t input1_multiplier;
  int32_t input1_shift;   /* <= 0 */
  int32_t input2_multiplier;
  int32_t input2_shift;   /* <= 0 */
} edgeq_compare_scaled_params;

typedef edgeq_compare_scaled_params edgeq_compare_s8_params;

void edgeq_compare_s8(const edgeq_compare_s8_params *p, const int8_t *in1, const int8_t *in2, uint8_t *out);

/* The stored-value comparison of the other element types (int16_compare.h, float32_compare.h). */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  int32_t cmp; /* EDGEQ_CMP_* */
} edgeq_compare_params;

/* ComparisonWithScaling's operand: (x + offset) << left_shift, then
 * MultiplyByQuantizedMultiplierSmallerThanOneExp (double rounding); `p` is an edgeq_compare_scaled_params. */
#define EDGEQ_CMP_RESCALE(x, k)                                                                             \
  edgeq_mul_qm_double(((int32_t)(x) + p->input##k##_offset) * ((int32_t)1 << p->left_shift),                \
                      p->input##k##_multiplier, p->input##k##_shift)

EDGEQ_INLINE uint8_t edgeq_cmp_apply_i32(int32_t cmp, int32_t x, int32_t y) {
  switch (cmp) {
    case EDGEQ_CMP_EQUAL: return (uint8_t)(x == y);
    case EDGEQ_CMP_NOT_EQUAL: return (uint8_t)(x != y);
    case EDGEQ_CMP_LESS: return (uint8_t)(x < y);
    case EDGEQ_CMP_LESS_EQUAL: return (uint8_t)(x <= y);
    case EDGEQ_CMP_GREATER: return (uint8_t)(x > y);
    default: return (uint8_t)(x >= y);
  }
}

EDGEQ_INLINE uint8_t edgeq_cmp_apply_f32(int32_t cmp, float x, float y) {
  switch (cmp) {
    case EDGEQ_CMP_EQUAL: return (uint8_t)(x == y);
    case EDGEQ_CMP_NOT_EQUAL: return (uint8_t)(x != y);
    case EDGEQ_CMP_LESS: return (uint8_t)(x < y);
    case EDGEQ_CMP_LESS_EQUAL: return (uint8_t)(x <= y);
    case EDGEQ_CMP_GREATER: return (uint8_t)(x > y);
    default: return (uint8_t)(x >= y);
  }
}

#endif
