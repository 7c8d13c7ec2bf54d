/* edgeq: int32 index arithmetic inside quantized models: comparisons (EQUAL, NOT_EQUAL, LESS, LESS_EQUAL,
 * GREATER, GREATER_EQUAL), ADD and SELECT / SELECT_V2 on int32 tensors. The converter emits them around a
 * GATHER: Keras 3's Embedding wraps negative token ids (select(ids < 0, ids + vocabulary, ids)).
 *
 * Each operand is either the full tensor (step 1) or one element repeated (step 0); the lowering refuses
 * any other broadcast. LiteRT's reference kernels compute in int32 (ADD: a + b, then the fused
 * activation's clamp); the sum here wraps modulo 2^32 where C++'s would be undefined.
 */
#ifndef EDGEQ_INDEX_OPS_H
#define EDGEQ_INDEX_OPS_H
#include "edgeq_common.h"

#define EDGEQ_CMP_EQUAL 0
#define EDGEQ_CMP_NOT_EQUAL 1
#define EDGEQ_CMP_LESS 2
#define EDGEQ_CMP_LESS_EQUAL 3
#define EDGEQ_CMP_GREATER 4
#define EDGEQ_CMP_GREATER_EQUAL 5

/* out[i] = a[i * a_step] <cmp> b[i * b_step] (1 or 0; bool tensors are uint8_t) */
typedef struct {
  int32_t size;
  int32_t a_step;
  int32_t b_step;
  int32_t cmp; /* EDGEQ_CMP_* */
} edgeq_compare_i32_params;

void edgeq_compare_i32(const edgeq_compare_i32_params *p, const int32_t *a, const int32_t *b, uint8_t *out);

/* out[i] = clamp(a[i * a_step] + b[i * b_step], act_min, act_max) */
typedef struct {
  int32_t size;
  int32_t a_step;
  int32_t b_step;
  int32_t act_min;
  int32_t act_max;
} edgeq_add_i32_params;

void edgeq_add_i32(const edgeq_add_i32_params *p, const int32_t *a, const int32_t *b, int32_t *out);

/* out[i] = cond[i * cond_step] ? a[i * a_step] : b[i * b_step] */
typedef struct {
  int32_t size;
  int32_t cond_step;
  int32_t a_step;
  int32_t b_step;
} edgeq_select_i32_params;

void edgeq_select_i32(const edgeq_select_i32_params *p, const uint8_t *cond, const int32_t *a, const int32_t *b,
                      int32_t *out);

#endif
