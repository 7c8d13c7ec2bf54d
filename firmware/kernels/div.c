#include "div.h"

EDGEQ_INLINE int32_t div_i32(int32_t a, int32_t b) {
  if (b == 0) return 0;
  if (b == -1) return (int32_t)(0u - (uint32_t)a); /* INT32_MIN / -1 wraps to INT32_MIN */
  return a / b;
}

void edgeq_div_i32(const edgeq_div_i32_params *p, const int32_t *in1, const int32_t *in2, int32_t *out) {
  EDGEQ_BCAST_ROWS(p, int32_t, in1, int32_t, in2, out,
    for (i = 0; i < n; ++i) out[i] = edgeq_clamp_i32(div_i32(a[i * s1], b[i * s2]), p->act_min, p->act_max);
  );
}

EDGEQ_INLINE int32_t floor_div_mod_i32(int32_t a, int32_t b, int32_t is_mod) {
  if (b == 0) return 0;
  if (is_mod) {
    const int32_t r = b == -1 ? 0 : a % b;
    return (r != 0 && ((b < 0) != (r < 0))) ? r + b : r;
  }
  {
    const double q = edgeq_floor_d((double)a / (double)b);
    return q >= 2147483648.0 ? INT32_MIN : (int32_t)q; /* INT32_MIN / -1 wraps */
  }
}

void edgeq_floor_div_mod_i32(const edgeq_floor_div_mod_i32_params *p, const int32_t *in1, const int32_t *in2,
                             int32_t *out) {
  EDGEQ_BCAST_ROWS(p, int32_t, in1, int32_t, in2, out,
    for (i = 0; i < n; ++i) out[i] = floor_div_mod_i32(a[i * s1], b[i * s2], p->is_mod);
  );
}
