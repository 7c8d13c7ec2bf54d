#include "int16_reduce.h"

#define S16_RED_SUM 0
#define S16_RED_MAX 1
#define S16_RED_MIN 2

/* Advance the odometer idx over dims[0..n) (last fastest); returns the new element offset. */
static size_t s16_reduce_step(int32_t *idx, const int32_t *dims, const int32_t *strides, int32_t n,
                                size_t off) {
  int32_t d;
  for (d = n - 1; d >= 0; --d) {
    if (++idx[d] < dims[d]) return off + (size_t)strides[d];
    idx[d] = 0;
    off -= (size_t)(dims[d] - 1) * (size_t)strides[d];
  }
  return off;
}

/* Reduce the block that starts at x: the innermost reduced dimension is a plain strided loop, the
 * others advance through an odometer. */
static int32_t s16_reduce_block(const edgeq_reduce_s16_params *p, const int16_t *x, int32_t blocks,
                                  int kind) {
  const int32_t last = p->n_red - 1;
  const int32_t inner = p->red_dims[last];
  const size_t step = (size_t)p->red_strides[last];
  int32_t idx[EDGEQ_S16_REDUCE_MAX_RANK] = {0};
  int32_t k, i;
  size_t off = 0;
  int32_t acc = kind == S16_RED_MAX ? -32768 : (kind == S16_RED_MIN ? 32767 : 0);
  for (k = 0; k < blocks; ++k) {
    const int16_t *r = x + off;
    if (kind == S16_RED_SUM) {
      for (i = 0; i < inner; ++i, r += step) acc += *r;
    } else if (kind == S16_RED_MAX) {
      for (i = 0; i < inner; ++i, r += step) acc = *r > acc ? *r : acc;
    } else {
      for (i = 0; i < inner; ++i, r += step) acc = *r < acc ? *r : acc;
    }
    off = s16_reduce_step(idx, p->red_dims, p->red_strides, last, off);
  }
  return acc;
}

static void edgeq_reduce_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out, int kind) {
  int32_t idx[EDGEQ_S16_REDUCE_MAX_RANK] = {0};
  int32_t count = 1, blocks = 1, k;
  size_t off = 0;
  for (k = 0; k < p->n_outer; ++k) count *= p->outer_dims[k];
  for (k = 0; k < p->n_red - 1; ++k) blocks *= p->red_dims[k]; /* all but the innermost reduced dim */
  for (k = 0; k < count; ++k) {
    int32_t acc = s16_reduce_block(p, in + off, blocks, kind);
    if (kind == S16_RED_SUM) {
      acc = edgeq_requant(acc - p->in_zp_count, p->mult, p->shift, p->rounding) + p->output_offset;
      acc = edgeq_clamp_i32(acc, -32768, 32767);
    }
    out[k] = (int16_t)acc;
    off = s16_reduce_step(idx, p->outer_dims, p->outer_strides, p->n_outer, off);
  }
}

void edgeq_mean_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out) {
  edgeq_reduce_s16(p, in, out, S16_RED_SUM);
}

void edgeq_reduce_max_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out) {
  edgeq_reduce_s16(p, in, out, S16_RED_MAX);
}

void edgeq_reduce_min_s16(const edgeq_reduce_s16_params *p, const int16_t *in, int16_t *out) {
  edgeq_reduce_s16(p, in, out, S16_RED_MIN);
}
