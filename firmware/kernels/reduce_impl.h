/* Body of the MEAN / REDUCE_MAX / REDUCE_MIN kernels for one element type (see reduce.h for the
 * parameters and the arithmetic). Not a header of its own: a kernel source defines
 *   EDGEQ_RED_T       element type (int8_t, int16_t)
 *   EDGEQ_RED_LO/HI   its range (the MAX/MIN start values and the MEAN clamp)
 *   EDGEQ_RED_PARAMS  the params struct type
 *   EDGEQ_RED_MEAN, EDGEQ_RED_SUM_FN, EDGEQ_RED_MAX_FN, EDGEQ_RED_MIN_FN  the public kernel names
 * and then includes this file once. */

#define EDGEQ_RED_SUM 0
#define EDGEQ_RED_MAX 1
#define EDGEQ_RED_MIN 2

/* Advance the odometer idx over dims[0..n) (last fastest); returns the new element offset. */
static size_t edgeq_reduce_step(int32_t *idx, const int32_t *dims, const int32_t *strides, int32_t n,
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
static int32_t edgeq_reduce_block(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *x, int32_t blocks,
                                  int kind) {
  const int32_t last = p->n_red - 1;
  const int32_t inner = p->red_dims[last];
  const size_t step = (size_t)p->red_strides[last];
  int32_t idx[EDGEQ_REDUCE_MAX_RANK] = {0};
  int32_t k, i;
  size_t off = 0;
  int32_t acc = kind == EDGEQ_RED_MAX ? EDGEQ_RED_LO : (kind == EDGEQ_RED_MIN ? EDGEQ_RED_HI : 0);
  for (k = 0; k < blocks; ++k) {
    const EDGEQ_RED_T *r = x + off;
    if (kind == EDGEQ_RED_SUM) {
      for (i = 0; i < inner; ++i, r += step) acc += *r;
    } else if (kind == EDGEQ_RED_MAX) {
      for (i = 0; i < inner; ++i, r += step) acc = *r > acc ? *r : acc;
    } else {
      for (i = 0; i < inner; ++i, r += step) acc = *r < acc ? *r : acc;
    }
    off = edgeq_reduce_step(idx, p->red_dims, p->red_strides, last, off);
  }
  return acc;
}

static void edgeq_reduce_run(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out, int kind) {
  int32_t idx[EDGEQ_REDUCE_MAX_RANK] = {0};
  int32_t count = 1, blocks = 1, k;
  size_t off = 0;
  for (k = 0; k < p->n_outer; ++k) count *= p->outer_dims[k];
  for (k = 0; k < p->n_red - 1; ++k) blocks *= p->red_dims[k]; /* all but the innermost reduced dim */
  for (k = 0; k < count; ++k) {
    int32_t acc = edgeq_reduce_block(p, in + off, blocks, kind);
    if (kind == EDGEQ_RED_SUM) {
      acc = edgeq_requant(acc - p->in_zp_count, p->mult, p->shift, p->rounding) + p->output_offset;
      acc = edgeq_clamp_i32(acc, EDGEQ_RED_LO, EDGEQ_RED_HI);
    }
    out[k] = (EDGEQ_RED_T)acc;
    off = edgeq_reduce_step(idx, p->outer_dims, p->outer_strides, p->n_outer, off);
  }
}

void EDGEQ_RED_MEAN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_SUM);
}

void EDGEQ_RED_SUM_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_SUM);
}

void EDGEQ_RED_MAX_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_MAX);
}

void EDGEQ_RED_MIN_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_MIN);
}
