#include "float32_div.h"

void edgeq_div_f32(const edgeq_div_f32_params *p, const float *in1, const float *in2, float *out) {
  EDGEQ_BCAST_ROWS(p, float, in1, float, in2, out,
    for (i = 0; i < n; ++i) out[i] = edgeq_clampf(a[i * s1] / b[i * s2], p->act_min, p->act_max);
  );
}

void edgeq_floor_div_f32(const edgeq_floor_div_f32_params *p, const float *in1, const float *in2, float *out) {
  EDGEQ_BCAST_ROWS(p, float, in1, float, in2, out,
    for (i = 0; i < n; ++i) out[i] = (float)edgeq_floor_d((double)a[i * s1] / (double)b[i * s2]);
  );
}
