#include "logical.h"

void edgeq_logical_b8(const edgeq_logical_params *p, const uint8_t *in1, const uint8_t *in2, uint8_t *out) {
  const int32_t last = p->ndim - 1;
  const int32_t n = p->shape[last];
  const int32_t s1 = p->stride1[last];
  const int32_t s2 = p->stride2[last];
  edgeq_bcast_iter it;
  edgeq_bcast_begin(&it, p->ndim);
  do {
    const uint8_t *a = in1 + it.off1;
    const uint8_t *b = in2 + it.off2;
    int32_t i;
    if (p->is_or) {
      for (i = 0; i < n; ++i) out[i] = (uint8_t)(a[i * s1] || b[i * s2]);
    } else {
      for (i = 0; i < n; ++i) out[i] = (uint8_t)(a[i * s1] && b[i * s2]);
    }
    out += n;
  } while (edgeq_bcast_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}

void edgeq_logical_not_b8(const edgeq_logical_not_params *p, const uint8_t *in, uint8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = (uint8_t)!in[i];
}
