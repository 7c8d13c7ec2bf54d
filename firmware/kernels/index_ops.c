#include "index_ops.h"

void edgeq_compare_i32(const edgeq_compare_i32_params *p, const int32_t *a, const int32_t *b, uint8_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    const int32_t x = a[i * p->a_step];
    const int32_t y = b[i * p->b_step];
    int r;
    switch (p->cmp) {
      case EDGEQ_CMP_EQUAL: r = x == y; break;
      case EDGEQ_CMP_NOT_EQUAL: r = x != y; break;
      case EDGEQ_CMP_LESS: r = x < y; break;
      case EDGEQ_CMP_LESS_EQUAL: r = x <= y; break;
      case EDGEQ_CMP_GREATER: r = x > y; break;
      default: r = x >= y; break;
    }
    out[i] = (uint8_t)r;
  }
}

void edgeq_add_i32(const edgeq_add_i32_params *p, const int32_t *a, const int32_t *b, int32_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) {
    /* two's complement wrap-around, without signed overflow */
    const int32_t s = (int32_t)((uint32_t)a[i * p->a_step] + (uint32_t)b[i * p->b_step]);
    out[i] = edgeq_clamp_i32(s, p->act_min, p->act_max);
  }
}

void edgeq_select_i32(const edgeq_select_i32_params *p, const uint8_t *cond, const int32_t *a, const int32_t *b,
                      int32_t *out) {
  int32_t i;
  for (i = 0; i < p->size; ++i) out[i] = cond[i * p->cond_step] ? a[i * p->a_step] : b[i * p->b_step];
}
