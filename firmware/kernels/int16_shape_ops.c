#include "int16_shape_ops.h"

#include <string.h>

void edgeq_concat_s16(const edgeq_concat_s16_params *p, const int16_t *const *inputs, int16_t *out) {
  const int clamp = p->act_min > -32768 || p->act_max < 32767;
  int32_t o, i, k;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->num_inputs; ++i) {
      const int32_t n = p->sizes[i];
      const int16_t *src = inputs[i] + (size_t)o * (size_t)n;
      if (!clamp) {
        memcpy(out, src, (size_t)n * sizeof(int16_t));
      } else {
        for (k = 0; k < n; ++k) out[k] = (int16_t)edgeq_clamp_i32(src[k], p->act_min, p->act_max);
      }
      out += n;
    }
  }
}

static int16_t *s16_fill(int16_t *out, int16_t v, size_t n) {
  size_t k;
  for (k = 0; k < n; ++k) out[k] = v;
  return out + n;
}

#define S16_PAD_OUTSIDE(i, d) ((i) < p->before[d] || (i) >= p->before[d] + p->in_shape[d])

void edgeq_pad_s16(const edgeq_pad_s16_params *p, const int16_t *in, int16_t *out) {
  const int32_t *os = p->out_shape;
  const int16_t v = (int16_t)p->pad_value;
  const size_t blk3 = (size_t)os[4];
  const size_t blk2 = (size_t)os[3] * blk3;
  const size_t blk1 = (size_t)os[2] * blk2;
  const size_t blk0 = (size_t)os[1] * blk1;
  const size_t row = (size_t)p->in_shape[4];
  const size_t left = (size_t)p->before[4];
  const size_t right = blk3 - left - row;
  int32_t i0, i1, i2, i3;
  for (i0 = 0; i0 < os[0]; ++i0) {
    if (S16_PAD_OUTSIDE(i0, 0)) {
      out = s16_fill(out, v, blk0);
      continue;
    }
    for (i1 = 0; i1 < os[1]; ++i1) {
      if (S16_PAD_OUTSIDE(i1, 1)) {
        out = s16_fill(out, v, blk1);
        continue;
      }
      for (i2 = 0; i2 < os[2]; ++i2) {
        if (S16_PAD_OUTSIDE(i2, 2)) {
          out = s16_fill(out, v, blk2);
          continue;
        }
        for (i3 = 0; i3 < os[3]; ++i3) {
          if (S16_PAD_OUTSIDE(i3, 3)) {
            out = s16_fill(out, v, blk3);
          } else {
            out = s16_fill(out, v, left);
            memcpy(out, in, row * sizeof(int16_t));
            out = s16_fill(out + row, v, right);
            in += row;
          }
        }
      }
    }
  }
}

#undef S16_PAD_OUTSIDE
