/* Body of the MINIMUM / MAXIMUM kernel for one element type (see minimum_maximum.h for the parameters).
 * Not a header of its own: a kernel source defines
 *   EDGEQ_MM_T     element type (int8_t, int16_t, int32_t, float)
 *   EDGEQ_MM_NAME  the public kernel name
 * then includes this file (once per type). */

void EDGEQ_MM_NAME(const edgeq_minimum_maximum_params *p, const EDGEQ_MM_T *in1, const EDGEQ_MM_T *in2,
                   EDGEQ_MM_T *out) {
  EDGEQ_BCAST_ROWS(p, EDGEQ_MM_T, in1, EDGEQ_MM_T, in2, out,
    if (p->is_max) {
      for (i = 0; i < n; ++i) {
        const EDGEQ_MM_T x = a[i * s1], y = b[i * s2];
        out[i] = x > y ? x : y;
      }
    } else {
      for (i = 0; i < n; ++i) {
        const EDGEQ_MM_T x = a[i * s1], y = b[i * s2];
        out[i] = x < y ? x : y;
      }
    }
  );
}
