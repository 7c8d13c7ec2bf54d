#ifndef EDGEQ_ELEMENTWISE_H
#define EDGEQ_ELEMENTWISE_H
#include "edgeq_common.h"

/* Binary int8 element-wise ops (ADD, SUB, MUL) with numpy-style broadcasting.
 *
 * Broadcasting is described by constants computed at generation time (edgeq/passes/lower/int8/elementwise.py):
 * the output is walked in row-major order as `ndim` collapsed dimensions `shape[0..ndim)`; per step
 * of dimension d, input k advances by `stride<k>[d]` elements (0 where input k is broadcast along d).
 * Adjacent dimensions that broadcast the same way are merged, so the common cases are short:
 * same shapes -> ndim 1, strides {1}/{1}; scalar operand -> ndim 1, its stride {0};
 * [1,8,8,16] + [16] -> ndim 2, shape {64,16}, strides {16,1}/{0,1}.
 * The innermost stride of each input is 0 or 1. The walk itself is edgeq_bcast_iter (edgeq_common.h). */

/* ADD / SUB, as TFLite's quantized add:
 *   s_k  = requant((in_k + input<k>_offset) << left_shift, input<k>_multiplier, input<k>_shift)
 *   out  = clamp(requant(s_1 +/- s_2, output_multiplier, output_shift) + rq.output_offset)
 * All shifts are <= 0 (multipliers < 1). */
typedef struct {
  int32_t ndim;
  const int32_t *shape;   /* [ndim] output extents, outermost first */
  const int32_t *stride1; /* [ndim] element strides of input 1 (0 = broadcast) */
  const int32_t *stride2; /* [ndim] element strides of input 2 */
  int32_t input1_offset;  /* -input1 zero point */
  int32_t input2_offset;  /* -input2 zero point */
  int32_t left_shift;     /* 20 for int8 */
  int32_t input1_multiplier;
  int32_t input1_shift;
  int32_t input2_multiplier;
  int32_t input2_shift;
  int32_t output_multiplier;
  int32_t output_shift;
  edgeq_requant_t rq;
  /* The table path, set at generation time where it is exact (else table1 = NULL and the kernel computes
   * the three requantizations above per element): table<k>[v + 128] = 2 * s_k(v) for the 256 input values
   * (SUB: table2 holds -2 * s_2(v)), and with t = table1[a] + table2[b] (= 2 * (s_1 +/- s_2), which fits),
   *   u   = SMMULR(t, output_multiplier)       (= SaturatingRoundingDoublingHighMul(s_1 +/- s_2, m))
   *   out = clamp((u + (u >> 31) + out_rb) >> out_e)
   *       = clamp(RoundingDivideByPOT(u, out_e) + output_offset),  out_rb = 2^(out_e-1) + output_offset * 2^out_e.
   * A table shared by both inputs (same quantization) is emitted once. */
  const int32_t *table1;
  const int32_t *table2;
  int32_t out_rb;
  int32_t out_e;
  /* The same tables built at run time instead (edgeq_add_s8_table_rt with rt_tables > 0, where the memory plan has
   * the bytes free during the op; table1 = table2 = NULL): at the start of each call the kernel fills rt_tables
   * tables of 256 int32 in its scratch, computing s_k(v) for the 256 input values as the generic path does
   * (add_scale, elementwise.c: 256 rescales of a few instructions each per table); rt_tables 1: ADD of two inputs
   * with one quantization, one table for both; rt_sub 1: SUB (table 2 negated). Both 0 with the tables in flash.
   * rt_ready 1: the tables are in the scratch already, filled by an earlier call of the same op (a row-band group's
   * ADD, passes/memory/bands.py: its first call fills them, the later bands' calls only read them). */
  int32_t rt_tables;
  int32_t rt_sub;
  int32_t rt_ready;
} edgeq_add_s8_params;

void edgeq_add_s8(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
/* out = in1 - in2, same parameters as ADD (the scaled operands are subtracted). */
void edgeq_sub_s8(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
/* ADD or SUB whose lowering gave tables (table1 != NULL, or rt_tables > 0): the table path alone, so that a model
 * whose every ADD / SUB has tables does not link the generic path (code size). Tables built at run time go in
 * `scratch` (4-byte aligned); with the tables in flash (edgeq_add_s8_table*: the same functions, as a model may
 * hold both kinds) it is unused. edgeq_add_s8_table_rt takes ndim 1 and 2 (one row, or the rows of a broadcast
 * vector), edgeq_add_s8_table_nd_rt more (the broadcast walk): a model without such broadcasts links no walk. */
void edgeq_add_s8_table_rt(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                           void *scratch);
void edgeq_add_s8_table_nd_rt(const edgeq_add_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                              void *scratch);
#define edgeq_add_s8_table_rt_scratch_bytes(rt_tables) (256 * 4 * (rt_tables))
#define edgeq_add_s8_table_nd_rt_scratch_bytes(rt_tables) (256 * 4 * (rt_tables))
#define edgeq_add_s8_table(p, in1, in2, out) edgeq_add_s8_table_rt((p), (in1), (in2), (out), NULL)
#define edgeq_add_s8_table_nd(p, in1, in2, out) edgeq_add_s8_table_nd_rt((p), (in1), (in2), (out), NULL)

/* MUL: out = clamp(requant((in1 + input1_offset) * (in2 + input2_offset)) + rq.output_offset) */
typedef struct {
  int32_t ndim;
  const int32_t *shape;
  const int32_t *stride1;
  const int32_t *stride2;
  int32_t input1_offset;
  int32_t input2_offset;
  int32_t output_multiplier;
  int32_t output_shift;
  edgeq_requant_t rq;
  /* The fast path, set at generation time where it is exact (else fast = 0: edgeq_requant_clamp per
   * element): with p = (in1 + input1_offset) * (in2 + input2_offset) (|p| <= 255 * 256),
   *   u   = SMMULR(p << fast_shift, output_multiplier)  (= SaturatingRoundingDoublingHighMul(p << left, m),
   *                                                       fast_shift = left + 1)
   *   out = clamp((u + (u >> 31) + out_rb) >> out_e),    out_rb = 2^(out_e-1) + output_offset * 2^out_e. */
  int32_t fast;
  int32_t fast_shift;
  int32_t out_rb;
  int32_t out_e;
} edgeq_mul_s8_params;

void edgeq_mul_s8(const edgeq_mul_s8_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

#endif
