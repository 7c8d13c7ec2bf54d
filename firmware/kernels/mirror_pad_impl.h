/* Body of the MIRROR_PAD kernel for one element type (see mirror_pad.h for the parameters). Not a header
 * of its own: a kernel source defines
 *   EDGEQ_MP_T     element type (int8_t, int16_t, float)
 *   EDGEQ_MP_NAME  the public kernel name
 * then includes this file once. Offsets are in elements. */

void EDGEQ_MP_NAME(const edgeq_mirror_pad_params *p, const EDGEQ_MP_T *in, EDGEQ_MP_T *out) {
  const int32_t *n = p->out_shape;
  const int32_t *t0 = p->index + p->start[0], *t1 = p->index + p->start[1], *t2 = p->index + p->start[2];
  const int32_t *t3 = p->index + p->start[3], *t4 = p->index + p->start[4];
  const size_t row = (size_t)n[4] * sizeof(EDGEQ_MP_T);
  int32_t i0, i1, i2, i3, i4;
  for (i0 = 0; i0 < n[0]; ++i0) {
    for (i1 = 0; i1 < n[1]; ++i1) {
      const int32_t o1 = t0[i0] + t1[i1];
      for (i2 = 0; i2 < n[2]; ++i2) {
        const int32_t o2 = o1 + t2[i2];
        for (i3 = 0; i3 < n[3]; ++i3) {
          const EDGEQ_MP_T *src = in + o2 + t3[i3];
          if (p->inner_copy) {
            memcpy(out, src, row);
            out += n[4];
          } else {
            for (i4 = 0; i4 < n[4]; ++i4) *out++ = src[t4[i4]];
          }
        }
      }
    }
  }
}
