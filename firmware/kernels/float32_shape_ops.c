#include "float32_shape_ops.h"

#include <string.h>

void edgeq_concat_f32(const edgeq_concat_f32_params *p, const float *const *inputs, float *out) {
  int32_t o, k, i, off = 0;
  for (o = 0; o < p->outer; ++o) {
    for (k = 0; k < p->num_inputs; ++k) {
      const int32_t n = p->sizes[k];
      const float *x = inputs[k] + o * n;
      if (p->clamp) {
        for (i = 0; i < n; ++i) out[off + i] = edgeq_clampf(x[i], p->act_min, p->act_max);
      } else {
        memcpy(out + off, x, (size_t)n * sizeof(float));
      }
      off += n;
    }
  }
}

static void fill(float *y, int32_t n, float v) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = v;
}

void edgeq_pad_f32(const edgeq_pad_f32_params *p, const float *in, float *out) {
  /* Recursive structure unrolled over 5 dims: each dim writes before-padding, the rows, after-padding. */
  const int32_t *is = p->in_shape, *os = p->out_shape, *bf = p->before;
  int32_t sz[EDGEQ_F32_SHAPE_MAX_DIMS]; /* output elements per index of dim d */
  int32_t d, i0, i1, i2, i3;
  sz[EDGEQ_F32_SHAPE_MAX_DIMS - 1] = 1;
  for (d = EDGEQ_F32_SHAPE_MAX_DIMS - 2; d >= 0; --d) sz[d] = sz[d + 1] * os[d + 1];
  fill(out, bf[0] * sz[0], p->pad_value);
  out += bf[0] * sz[0];
  for (i0 = 0; i0 < is[0]; ++i0) {
    fill(out, bf[1] * sz[1], p->pad_value);
    out += bf[1] * sz[1];
    for (i1 = 0; i1 < is[1]; ++i1) {
      fill(out, bf[2] * sz[2], p->pad_value);
      out += bf[2] * sz[2];
      for (i2 = 0; i2 < is[2]; ++i2) {
        fill(out, bf[3] * sz[3], p->pad_value);
        out += bf[3] * sz[3];
        for (i3 = 0; i3 < is[3]; ++i3) {
          fill(out, bf[4], p->pad_value);
          memcpy(out + bf[4], in, (size_t)is[4] * sizeof(float));
          in += is[4];
          fill(out + bf[4] + is[4], os[4] - bf[4] - is[4], p->pad_value);
          out += os[4];
        }
        fill(out, (os[3] - bf[3] - is[3]) * sz[3], p->pad_value);
        out += (os[3] - bf[3] - is[3]) * sz[3];
      }
      fill(out, (os[2] - bf[2] - is[2]) * sz[2], p->pad_value);
      out += (os[2] - bf[2] - is[2]) * sz[2];
    }
    fill(out, (os[1] - bf[1] - is[1]) * sz[1], p->pad_value);
    out += (os[1] - bf[1] - is[1]) * sz[1];
  }
  fill(out, (os[0] - bf[0] - is[0]) * sz[0], p->pad_value);
}

void edgeq_strided_slice_f32(const edgeq_strided_slice_f32_params *p, const float *in, float *out) {
  const int32_t *c = p->count;
  const int32_t *s = p->step;
  int32_t i0, i1, i2, i3, i4;
  int32_t o0, o1, o2, o3, o4; /* element offsets: integers, so negative steps never form bad pointers */
  for (i0 = 0, o0 = p->offset; i0 < c[0]; ++i0, o0 += s[0]) {
    for (i1 = 0, o1 = o0; i1 < c[1]; ++i1, o1 += s[1]) {
      for (i2 = 0, o2 = o1; i2 < c[2]; ++i2, o2 += s[2]) {
        for (i3 = 0, o3 = o2; i3 < c[3]; ++i3, o3 += s[3]) {
          if (s[4] == 1) {
            memcpy(out, in + o3, (size_t)c[4] * sizeof(float));
            out += c[4];
          } else {
            for (i4 = 0, o4 = o3; i4 < c[4]; ++i4, o4 += s[4]) *out++ = in[o4];
          }
        }
      }
    }
  }
}

void edgeq_resize_nearest_f32(const edgeq_resize_nearest_f32_params *p, const float *in, float *out) {
  const size_t depth = (size_t)p->depth;
  int32_t b, y, x;
  for (b = 0; b < p->batches; ++b) {
    const float *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      const float *src_row = in_b + p->row_offset[y];
      for (x = 0; x < p->out_w; ++x) {
        memcpy(out, src_row + p->col_offset[x], depth * sizeof(float));
        out += depth;
      }
    }
  }
}
