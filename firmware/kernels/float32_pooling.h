/* edgeq: AVERAGE_POOL_2D, MAX_POOL_2D and MEAN on float32 tensors, as TFLite's float reference kernels.
 *
 * Pooling: the window is clipped to the input (padded taps are neither summed nor counted); the
 * average is total / count in float, summed in window order (rows, then columns), then clamped by the
 * fused activation. MEAN: each output is the sum of its reduced elements in row-major order, divided
 * by their count in float (reference_ops::Mean / ReduceSumImpl). */
#ifndef EDGEQ_FLOAT32_POOLING_H
#define EDGEQ_FLOAT32_POOLING_H
#include "edgeq_common.h"

typedef struct {
  int32_t batches;
  int32_t in_h;
  int32_t in_w;
  int32_t channels;
  int32_t out_h;
  int32_t out_w;
  int32_t filter_h;
  int32_t filter_w;
  int32_t stride_h;
  int32_t stride_w;
  int32_t pad_h;
  int32_t pad_w;
  float act_min;
  float act_max;
} edgeq_pool_f32_params;

void edgeq_avg_pool_f32(const edgeq_pool_f32_params *p, const float *in, float *out);
void edgeq_max_pool_f32(const edgeq_pool_f32_params *p, const float *in, float *out);

#define EDGEQ_F32_REDUCE_MAX_DIMS 8

/* The input viewed as kept and reduced dimensions (each with its element stride in the input),
 * adjacent dimensions of one kind merged; output element o walks the kept dims in row-major order. */
typedef struct {
  int32_t n_kept;
  int32_t n_red;
  int32_t count; /* number of reduced elements per output */
  const int32_t *kept_size;   /* [n_kept] */
  const int32_t *kept_stride; /* [n_kept] */
  const int32_t *red_size;    /* [n_red] */
  const int32_t *red_stride;  /* [n_red] */
  int32_t sum_from_first; /* SUM over every dimension: start from the first element instead of 0.0f */
} edgeq_mean_f32_params;

void edgeq_mean_f32(const edgeq_mean_f32_params *p, const float *in, float *out);
/* REDUCE_MAX / REDUCE_MIN over the same view (reference_ops::ReduceGeneric: start from the lowest /
 * highest float, then in > current ? in : current, resp. in < current ? in : current) */
/* SUM over the same view: reference_ops::ReduceGeneric adds in row-major order from 0.0f; reducing every
 * dimension (ReduceAllDims) it starts from the first element (so an all -0.0 input sums to -0.0) */
void edgeq_sum_f32(const edgeq_mean_f32_params *p, const float *in, float *out);
void edgeq_reduce_max_f32(const edgeq_mean_f32_params *p, const float *in, float *out);
void edgeq_reduce_min_f32(const edgeq_mean_f32_params *p, const float *in, float *out);

#endif
