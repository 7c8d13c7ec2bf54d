#include "float32_elementwise.h"

/* Walk the output row by row (the innermost dimension is the row); off1/off2 follow the inputs. */
#define EDGEQ_F32_BINARY(NAME, EXPR)                                                              \
  void NAME(const edgeq_binary_f32_params *p, const float *in1, const float *in2, float *out) {   \
    int32_t idx[EDGEQ_F32_BCAST_MAX_DIMS];                                                        \
    const int32_t last = p->ndim - 1;                                                             \
    const int32_t n = p->shape[last], s1 = p->stride1[last], s2 = p->stride2[last];               \
    int32_t off1 = 0, off2 = 0, d, i;                                                             \
    for (d = 0; d < p->ndim; ++d) idx[d] = 0;                                                     \
    for (;;) {                                                                                    \
      for (i = 0; i < n; ++i) {                                                                   \
        const float a = in1[off1 + i * s1], b = in2[off2 + i * s2];                               \
        out[i] = edgeq_clampf(EXPR, p->act_min, p->act_max);                                            \
      }                                                                                           \
      out += n;                                                                                   \
      for (d = last - 1; d >= 0; --d) {                                                           \
        if (++idx[d] < p->shape[d]) {                                                             \
          off1 += p->stride1[d];                                                                  \
          off2 += p->stride2[d];                                                                  \
          break;                                                                                  \
        }                                                                                         \
        idx[d] = 0;                                                                               \
        off1 -= p->stride1[d] * (p->shape[d] - 1);                                                \
        off2 -= p->stride2[d] * (p->shape[d] - 1);                                                \
      }                                                                                           \
      if (d < 0) return;                                                                          \
    }                                                                                             \
  }

EDGEQ_F32_BINARY(edgeq_add_f32, a + b)
EDGEQ_F32_BINARY(edgeq_sub_f32, a - b)
EDGEQ_F32_BINARY(edgeq_mul_f32, a * b)

void edgeq_clamp_f32(const edgeq_clamp_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = edgeq_clampf(in[i], p->lo, p->hi);
}

void edgeq_leaky_relu_f32(const edgeq_leaky_relu_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float v = in[i];
    out[i] = v > 0.0f ? v : v * p->alpha;
  }
}

void edgeq_hard_swish_f32(const edgeq_hard_swish_f32_params *p, const float *in, float *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const float v = in[i];
    float r = v + 3.0f;
    r = r > 0.0f ? r : 0.0f;
    r = r < 6.0f ? r : 6.0f;
    out[i] = v * r / 6.0f;
  }
}
