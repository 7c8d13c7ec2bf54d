/* Body of the ARG_MAX / ARG_MIN kernel for one input element type (see arg_min_max.h for the
 * parameters). Not a header of its own: a kernel source defines
 *   EDGEQ_AM_T     input element type (int8_t, float)
 *   EDGEQ_AM_NAME  the public kernel name
 * then includes this file once. */

void EDGEQ_AM_NAME(const edgeq_arg_min_max_params *p, const EDGEQ_AM_T *in, void *out) {
  int32_t *out32 = (int32_t *)out;
  int64_t *out64 = (int64_t *)out;
  const size_t inner = (size_t)p->inner;
  int32_t o, i;
  size_t j;
  for (o = 0; o < p->outer; ++o) {
    const EDGEQ_AM_T *x = in + (size_t)o * (size_t)p->axis_size * inner;
    for (j = 0; j < inner; ++j) {
      EDGEQ_AM_T best = x[j];
      int32_t at = 0;
      for (i = 1; i < p->axis_size; ++i) {
        const EDGEQ_AM_T v = x[(size_t)i * inner + j];
        /* strict comparisons: the first of equal extremes wins (and a NaN never replaces a number) */
        if (p->is_min ? v < best : v > best) {
          best = v;
          at = i;
        }
      }
      if (p->wide_output) {
        out64[(size_t)o * inner + j] = at;
      } else {
        out32[(size_t)o * inner + j] = at;
      }
    }
  }
}
