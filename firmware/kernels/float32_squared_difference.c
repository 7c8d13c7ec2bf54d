#include "float32_squared_difference.h"

void edgeq_squared_difference_f32(const edgeq_squared_difference_f32_params *p, const float *in1, const float *in2,
                                  float *out) {
  EDGEQ_BCAST_ROWS(p, float, in1, float, in2, out,
    for (i = 0; i < n; ++i) {
      const float d = a[i * s1] - b[i * s2];
      out[i] = d * d;
    }
  );
}
