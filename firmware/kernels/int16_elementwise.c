#include "int16_elementwise.h"

/* Odometer over all output elements; o1 / o2 are the current element offsets of the two inputs. */
typedef struct {
  int32_t idx[EDGEQ_S16_BCAST_MAX_DIMS];
  int32_t o1, o2;
} s16_iter;

static int s16_next(s16_iter *it, int32_t ndim, const int32_t *shape, const int32_t *st1, const int32_t *st2) {
  int32_t d;
  for (d = ndim - 1; d >= 0; --d) {
    if (++it->idx[d] < shape[d]) {
      it->o1 += st1[d];
      it->o2 += st2[d];
      return 1;
    }
    it->idx[d] = 0;
    it->o1 -= st1[d] * (shape[d] - 1);
    it->o2 -= st2[d] * (shape[d] - 1);
  }
  return 0;
}

static void s16_begin(s16_iter *it, int32_t ndim) {
  int32_t d;
  for (d = 0; d < ndim; ++d) it->idx[d] = 0;
  it->o1 = it->o2 = 0;
}

static void add_sub_s16(const edgeq_add_s16_params *p, int sub, const int16_t *in1, const int16_t *in2,
                       int16_t *out) {
  const int32_t lmul = (int32_t)1 << p->left_shift;
  const int32_t r = p->rq.rounding;
  s16_iter it;
  s16_begin(&it, p->ndim);
  do {
    const int32_t a = edgeq_requant(((int32_t)in1[it.o1] + p->input1_offset) * lmul, p->input1_multiplier,
                                    p->input1_shift, r);
    const int32_t b = edgeq_requant(((int32_t)in2[it.o2] + p->input2_offset) * lmul, p->input2_multiplier,
                                    p->input2_shift, r);
    *out++ = (int16_t)edgeq_requant_clamp(&p->rq, sub ? a - b : a + b, p->output_multiplier, p->output_shift);
  } while (s16_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}

void edgeq_add_s16(const edgeq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out) {
  add_sub_s16(p, 0, in1, in2, out);
}

void edgeq_sub_s16(const edgeq_add_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out) {
  add_sub_s16(p, 1, in1, in2, out);
}

void edgeq_mul_s16(const edgeq_mul_s16_params *p, const int16_t *in1, const int16_t *in2, int16_t *out) {
  s16_iter it;
  s16_begin(&it, p->ndim);
  do {
    const int32_t prod = ((int32_t)in1[it.o1] + p->input1_offset) * ((int32_t)in2[it.o2] + p->input2_offset);
    *out++ = (int16_t)edgeq_requant_clamp(&p->rq, prod, p->output_multiplier, p->output_shift);
  } while (s16_next(&it, p->ndim, p->shape, p->stride1, p->stride2));
}
