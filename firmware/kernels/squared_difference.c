#include "squared_difference.h"

EDGEQ_INLINE int32_t sqd_scale(int32_t x, int32_t offset, int32_t left_shift, int32_t m, int32_t shift) {
  return edgeq_mul_qm_double((x + offset) * ((int32_t)1 << left_shift), m, shift); /* always double rounding */
}

void edgeq_squared_difference_s8(const edgeq_squared_difference_s8_params *p, const int8_t *in1, const int8_t *in2,
                                 int8_t *out) {
  EDGEQ_BCAST_ROWS(p, int8_t, in1, int8_t, in2, out,
    for (i = 0; i < n; ++i) {
      const int32_t va = sqd_scale(a[i * s1], p->input1_offset, p->left_shift, p->input1_multiplier,
                                   p->input1_shift);
      const int32_t vb = sqd_scale(b[i * s2], p->input2_offset, p->left_shift, p->input2_multiplier,
                                   p->input2_shift);
      const int32_t d = va - vb; /* |d| <= 255 << 6: its square fits */
      out[i] = (int8_t)edgeq_requant_clamp(&p->rq, d * d, p->output_multiplier, p->output_shift);
    }
  );
}

void edgeq_squared_difference_i32(const edgeq_squared_difference_i32_params *p, const int32_t *in1,
                                  const int32_t *in2, int32_t *out) {
  EDGEQ_BCAST_ROWS(p, int32_t, in1, int32_t, in2, out,
    for (i = 0; i < n; ++i) {
      const uint32_t d = (uint32_t)a[i * s1] - (uint32_t)b[i * s2];
      out[i] = (int32_t)(d * d);
    }
  );
}
