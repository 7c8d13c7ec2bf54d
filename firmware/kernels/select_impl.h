/* Body of the SELECT / SELECT_V2 kernel for one element type (see select.h for the parameters). Not a header
 * of its own: a kernel source defines
 *   EDGEQ_SEL_T     element type (int8_t, int16_t, float)
 *   EDGEQ_SEL_NAME  the public kernel name
 * then includes this file once. Rows of the innermost dimension, an odometer over the outer ones. */

void EDGEQ_SEL_NAME(const edgeq_select_params *p, const uint8_t *cond, const EDGEQ_SEL_T *x, const EDGEQ_SEL_T *y,
                    EDGEQ_SEL_T *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t sc = p->stride_c[last], sx = p->stride_x[last], sy = p->stride_y[last];
  int32_t idx[EDGEQ_SELECT_MAX_DIMS];
  int32_t oc = 0, ox = 0, oy = 0, d;
  for (d = 0; d < p->ndim; ++d) idx[d] = 0;
  for (;;) {
    const uint8_t *c = cond + oc;
    const EDGEQ_SEL_T *a = x + ox;
    const EDGEQ_SEL_T *b = y + oy;
    int32_t i;
    for (i = 0; i < n; ++i) out[i] = c[i * sc] ? a[i * sx] : b[i * sy];
    out += n;
    for (d = last - 1; d >= 0; --d) {
      if (++idx[d] < p->shape[d]) {
        oc += p->stride_c[d];
        ox += p->stride_x[d];
        oy += p->stride_y[d];
        break;
      }
      idx[d] = 0;
      oc -= p->stride_c[d] * (p->shape[d] - 1);
      ox -= p->stride_x[d] * (p->shape[d] - 1);
      oy -= p->stride_y[d] * (p->shape[d] - 1);
    }
    if (d < 0) return;
  }
}
