/* Body of the MEAN / SUM / REDUCE_MAX / REDUCE_MIN kernels for one element type (see reduce.h for the
 * parameters and the arithmetic). Not a header of its own: a kernel source defines
 *   EDGEQ_RED_T       element type (int8_t, int16_t)
 *   EDGEQ_RED_LO/HI   its range (the MAX/MIN start values and the MEAN clamp)
 *   EDGEQ_RED_PARAMS  the params struct type
 *   EDGEQ_RED_MEAN, EDGEQ_RED_SUM_FN, EDGEQ_RED_MAX_FN, EDGEQ_RED_MIN_FN  the public kernel names
 * and then includes this file once.
 *
 * Each public kernel gets its own copy of the loops with its reduction fixed (edgeq_reduce_run is always
 * inlined), so a library that calls MEAN only links MEAN's loops; the kept and the reduced indices advance
 * through one odometer function, which also ends both loops (it returns 0 when every index is back to 0). */

#define EDGEQ_RED_SUM 0
#define EDGEQ_RED_MAX 1
#define EDGEQ_RED_MIN 2

/* Advance the odometer idx over dims[0..n) (last fastest) and *off with it; returns 0 when it wrapped
 * around (every index back to 0, *off back to where it started), 1 otherwise. */
static int edgeq_reduce_next(int32_t *idx, const int32_t *dims, const int32_t *strides, int32_t n, size_t *off) {
  int32_t d;
  for (d = n - 1; d >= 0; --d) {
    if (++idx[d] < dims[d]) {
      *off += (size_t)strides[d];
      return 1;
    }
    idx[d] = 0;
    *off -= (size_t)(dims[d] - 1) * (size_t)strides[d];
  }
  return 0;
}

/* For every kept index (outer odometer): the innermost reduced dimension is a plain strided loop, the other
 * reduced ones advance through the inner odometer, whose indices are all 0 again after each output. */
EDGEQ_INLINE void edgeq_reduce_run(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out, int kind) {
  const int32_t last = p->n_red - 1;
  const int32_t inner = p->red_dims[last];
  const size_t step = (size_t)p->red_strides[last];
  int32_t outer_idx[EDGEQ_REDUCE_MAX_RANK] = {0}, red_idx[EDGEQ_REDUCE_MAX_RANK] = {0};
  size_t outer_off = 0, red_off = 0;
  do {
    int32_t acc = kind == EDGEQ_RED_MAX ? EDGEQ_RED_LO : (kind == EDGEQ_RED_MIN ? EDGEQ_RED_HI : 0);
    do {
      const EDGEQ_RED_T *r = in + outer_off + red_off;
      int32_t i;
      for (i = 0; i < inner; ++i, r += step) {
        if (kind == EDGEQ_RED_SUM) acc += *r;
        else if (kind == EDGEQ_RED_MAX) acc = *r > acc ? *r : acc;
        else acc = *r < acc ? *r : acc;
      }
    } while (edgeq_reduce_next(red_idx, p->red_dims, p->red_strides, last, &red_off));
    if (kind == EDGEQ_RED_SUM) {
      /* double rounding: the only one either reference uses for MEAN and SUM (the lowering's rounding is 0) */
      acc = edgeq_mul_qm_double(acc - p->in_zp_count, p->mult, p->shift) + p->output_offset;
      acc = edgeq_clamp_i32(acc, EDGEQ_RED_LO, EDGEQ_RED_HI);
    }
    *out++ = (EDGEQ_RED_T)acc;
  } while (edgeq_reduce_next(outer_idx, p->outer_dims, p->outer_strides, p->n_outer, &outer_off));
}

void EDGEQ_RED_MEAN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_SUM);
}

void EDGEQ_RED_SUM_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  EDGEQ_RED_MEAN(p, in, out); /* the same arithmetic, with mult / shift without the 1/count factor */
}

void EDGEQ_RED_MAX_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_MAX);
}

void EDGEQ_RED_MIN_FN(const EDGEQ_RED_PARAMS *p, const EDGEQ_RED_T *in, EDGEQ_RED_T *out) {
  edgeq_reduce_run(p, in, out, EDGEQ_RED_MIN);
}
