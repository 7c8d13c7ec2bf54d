/* Body of the strided n-D copy kernel for one element type (see strided_copy.h for the parameters). Not a
 * header of its own: a kernel source defines
 *   EDGEQ_SC_T     element type (int8_t, int16_t, float)
 *   EDGEQ_SC_NAME  the public kernel name
 * then includes this file once. Offsets and steps are in elements. */

void EDGEQ_SC_NAME(const edgeq_strided_copy_params *p, const EDGEQ_SC_T *in, EDGEQ_SC_T *out) {
  const int32_t *c = p->count;
  const int32_t *s = p->step;
  const size_t row = (size_t)c[5] * sizeof(EDGEQ_SC_T);
  int32_t i0, i1, i2, i3, i4, i5;
  int32_t o0, o1, o2, o3, o4, o5; /* element offsets: integers, so negative or zero steps never form bad pointers */
  for (i0 = 0, o0 = p->offset; i0 < c[0]; ++i0, o0 += s[0]) {
    for (i1 = 0, o1 = o0; i1 < c[1]; ++i1, o1 += s[1]) {
      for (i2 = 0, o2 = o1; i2 < c[2]; ++i2, o2 += s[2]) {
        for (i3 = 0, o3 = o2; i3 < c[3]; ++i3, o3 += s[3]) {
          for (i4 = 0, o4 = o3; i4 < c[4]; ++i4, o4 += s[4]) {
            if (s[5] == 1) {
              memcpy(out, in + o4, row);
              out += c[5];
            } else {
              for (i5 = 0, o5 = o4; i5 < c[5]; ++i5, o5 += s[5]) *out++ = in[o5];
            }
          }
        }
      }
    }
  }
}
