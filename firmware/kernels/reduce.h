#ifndef EDGEQ_REDUCE_H
#define EDGEQ_REDUCE_H
#include "edgeq_common.h"

/* MEAN / SUM / REDUCE_MAX / REDUCE_MIN over any set of axes of an int8 tensor.
 *
 * The generator merges adjacent dimensions and splits them into kept ("outer") and reduced ("red")
 * groups, each described by sizes and input strides in elements, outermost first; both lists have at
 * least one entry (a size-1 entry with stride 0 stands for "none"). Output element i is the
 * reduction of the input elements reached from the i-th kept index (in row-major order, which is
 * also the output order, with or without keep_dims) over all reduced indices.
 *
 * MEAN follows TFLite's reference QuantizedMeanOrSum: acc = sum of raw int8 inputs;
 *   out = clamp(requant(acc - in_zp_count, mult, shift) + output_offset)
 * where in_zp_count = input zero point * count and mult/shift already include the 1/count factor.
 * SUM (edgeq_sum_s8) is the same with mult/shift for in_scale / out_scale alone (TFLM's arithmetic, also
 * with identical input and output quantization).
 * REDUCE_MAX / REDUCE_MIN ignore the quantization fields (input and output share quantization). */
#define EDGEQ_REDUCE_MAX_RANK 8

typedef struct {
  int32_t n_outer;               /* entries in outer_dims/outer_strides, 1..EDGEQ_REDUCE_MAX_RANK */
  const int32_t *outer_dims;
  const int32_t *outer_strides;
  int32_t n_red;                 /* entries in red_dims/red_strides, 1..EDGEQ_REDUCE_MAX_RANK */
  const int32_t *red_dims;
  const int32_t *red_strides;
  int32_t in_zp_count;           /* MEAN: input zero point * reduced element count */
  int32_t output_offset;         /* MEAN: output zero point */
  int32_t mult;                  /* MEAN: quantized multiplier for in_scale / out_scale / count */
  int32_t shift;
  int32_t rounding;              /* always 0 (EDGEQ_ROUND_DOUBLE): both references round MEAN and SUM twice,
                                    and the kernels do so without reading it (tests/kernels/test_reduce.py) */
} edgeq_reduce_s8_params;

void edgeq_mean_s8(const edgeq_reduce_s8_params *p, const int8_t *in, int8_t *out);
void edgeq_sum_s8(const edgeq_reduce_s8_params *p, const int8_t *in, int8_t *out);
void edgeq_reduce_max_s8(const edgeq_reduce_s8_params *p, const int8_t *in, int8_t *out);
void edgeq_reduce_min_s8(const edgeq_reduce_s8_params *p, const int8_t *in, int8_t *out);

#endif
