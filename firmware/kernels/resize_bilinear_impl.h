/* Body of the RESIZE_BILINEAR kernel for one integer element type (see resize.h for the parameters). Not a
 * header of its own: a kernel source defines
 *   EDGEQ_RB_T       element type (int8_t, int16_t)
 *   EDGEQ_RB_ACC     accumulator type wide enough for |x| * 2048 * 2048 (int32_t for int8, int64_t for int16)
 *   EDGEQ_RB_PARAMS  the params struct type
 *   EDGEQ_RB_NAME    the public kernel name
 * then includes this file once. Offsets are in elements. */

void EDGEQ_RB_NAME(const EDGEQ_RB_PARAMS *p, const EDGEQ_RB_T *in, EDGEQ_RB_T *out) {
  const int32_t depth = p->depth;
  const int32_t single = p->rounding == EDGEQ_ROUND_SINGLE;
  const EDGEQ_RB_ACC half = (EDGEQ_RB_ACC)1 << 19;
  int32_t b, y, x, c;
  for (b = 0; b < p->batches; ++b) {
    const EDGEQ_RB_T *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      const EDGEQ_RB_T *r0 = in_b + p->y_lo[y];
      const EDGEQ_RB_T *r1 = in_b + p->y_hi[y];
      const int32_t fy = p->y_frac[y];
      for (x = 0; x < p->out_w; ++x) {
        const int32_t fx = p->x_frac[x];
        const int32_t w00 = ((1 << 10) - fy) * ((1 << 10) - fx);
        const int32_t w10 = fy * ((1 << 10) - fx);
        const int32_t w01 = ((1 << 10) - fy) * fx;
        const int32_t w11 = fy * fx;
        const EDGEQ_RB_T *a00 = r0 + p->x_lo[x], *a10 = r1 + p->x_lo[x];
        const EDGEQ_RB_T *a01 = r0 + p->x_hi[x], *a11 = r1 + p->x_hi[x];
        for (c = 0; c < depth; ++c) {
          const EDGEQ_RB_ACC acc = (EDGEQ_RB_ACC)a00[c] * w00 + (EDGEQ_RB_ACC)a10[c] * w10 +
                                   (EDGEQ_RB_ACC)a01[c] * w01 + (EDGEQ_RB_ACC)a11[c] * w11;
          EDGEQ_RB_ACC v;
          if (single) {
            v = (acc + half) >> 20; /* arithmetic shift, as the reference's int64 >> */
          } else {
            v = (acc + (acc > 0 ? half : -half)) / ((EDGEQ_RB_ACC)1 << 20);
          }
          *out++ = (EDGEQ_RB_T)v;
        }
      }
    }
  }
}
