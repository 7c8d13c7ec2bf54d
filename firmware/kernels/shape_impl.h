/* Body of the CONCATENATION and PAD/PADV2 kernels for one element type (see shape_ops.h for the
 * parameters). Not a header of its own: a kernel source defines
 *   EDGEQ_SH_T                 element type (int8_t, int16_t)
 *   EDGEQ_SH_LO/HI             its range (a concat clamp of exactly this range is a plain copy)
 *   EDGEQ_SH_CONCAT_PARAMS, EDGEQ_SH_PAD_PARAMS  the params struct types
 *   EDGEQ_SH_CONCAT, EDGEQ_SH_PAD                the public kernel names
 * and a static `edgeq_sh_fill(EDGEQ_SH_T *out, int32_t v, size_t n)` writing n copies of v, then
 * includes this file once. Sizes in the params are in elements. */

void EDGEQ_SH_CONCAT(const EDGEQ_SH_CONCAT_PARAMS *p, const EDGEQ_SH_T *const *inputs, EDGEQ_SH_T *out) {
  const int clamp = p->act_min > EDGEQ_SH_LO || p->act_max < EDGEQ_SH_HI;
  int32_t o, i, k;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->num_inputs; ++i) {
      const int32_t n = p->sizes[i];
      const EDGEQ_SH_T *src = inputs[i] + (size_t)o * (size_t)n;
      if (!clamp) {
        memcpy(out, src, (size_t)n * sizeof(EDGEQ_SH_T));
      } else {
        for (k = 0; k < n; ++k) out[k] = (EDGEQ_SH_T)edgeq_clamp_i32(src[k], p->act_min, p->act_max);
      }
      out += n;
    }
  }
}

/* index i of an output dimension falls in the padding (not in [before, before + in_extent)) */
#define EDGEQ_PAD_OUTSIDE(i, d) ((i) < p->before[d] || (i) >= p->before[d] + p->in_shape[d])

void EDGEQ_SH_PAD(const EDGEQ_SH_PAD_PARAMS *p, const EDGEQ_SH_T *in, EDGEQ_SH_T *out) {
  const int32_t *os = p->out_shape;
  const int32_t v = p->pad_value;
  /* elements of one index step in output dimensions 0..3 */
  const size_t blk3 = (size_t)os[4];
  const size_t blk2 = (size_t)os[3] * blk3;
  const size_t blk1 = (size_t)os[2] * blk2;
  const size_t blk0 = (size_t)os[1] * blk1;
  const size_t row = (size_t)p->in_shape[4];
  const size_t left = (size_t)p->before[4];
  const size_t right = blk3 - left - row;
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < os[0]; ++i0) {
    if (EDGEQ_PAD_OUTSIDE(i0, 0)) {
      edgeq_sh_fill(out, v, blk0);
      out += blk0;
      continue;
    }
    for (i1 = 0; i1 < os[1]; ++i1) {
      if (EDGEQ_PAD_OUTSIDE(i1, 1)) {
        edgeq_sh_fill(out, v, blk1);
        out += blk1;
        continue;
      }
      for (i2 = 0; i2 < os[2]; ++i2) {
        if (EDGEQ_PAD_OUTSIDE(i2, 2)) {
          edgeq_sh_fill(out, v, blk2);
          out += blk2;
          continue;
        }
        for (i3 = 0; i3 < os[3]; ++i3) {
          if (EDGEQ_PAD_OUTSIDE(i3, 3)) {
            edgeq_sh_fill(out, v, blk3);
          } else {
            /* input rows are consumed in order */
            edgeq_sh_fill(out, v, left);
            memcpy(out + left, in, row * sizeof(EDGEQ_SH_T));
            edgeq_sh_fill(out + left + row, v, right);
            in += row;
          }
          out += blk3;
        }
      }
    }
  }
}

#undef EDGEQ_PAD_OUTSIDE
