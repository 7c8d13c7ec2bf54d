#include "logical.h"

void edgeq_logical_b8(const edgeq_logical_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out) {
  EDGEQ_BCAST_ROWS(p, uint8_t, in1, uint8_t, in2, out,
    if (p->is_or) {
      for (i = 0; i < n; ++i) out[i] = (uint8_t)(a[i * s1] || b[i * s2]);
    } else {
      for (i = 0; i < n; ++i) out[i] = (uint8_t)(a[i * s1] && b[i * s2]);
    }
  );
}

void edgeq_logical_not_b8(const edgeq_logical_not_params *p, const uint8_t *in, uint8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = (uint8_t)!in[i];
}
