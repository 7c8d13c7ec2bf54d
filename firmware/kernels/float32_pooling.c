#include "float32_pooling.h"

#define EDGEQ_F32_POOL(NAME, INIT, ACC, FINISH)                                                     \
  void NAME(const edgeq_pool_f32_params *p, const float *in, float *out) {                          \
    int32_t b, oy, ox, c, fy, fx;                                                                   \
    for (b = 0; b < p->batches; ++b) {                                                              \
      for (oy = 0; oy < p->out_h; ++oy) {                                                           \
        const int32_t iy0 = oy * p->stride_h - p->pad_h;                                            \
        int32_t fy0, fy1;                                                                           \
        edgeq_pool_window(iy0, p->filter_h, p->in_h, &fy0, &fy1);                                   \
        for (ox = 0; ox < p->out_w; ++ox) {                                                         \
          const int32_t ix0 = ox * p->stride_w - p->pad_w;                                          \
          int32_t fx0, fx1;                                                                         \
          float *y = out + ((b * p->out_h + oy) * p->out_w + ox) * p->channels;                     \
          edgeq_pool_window(ix0, p->filter_w, p->in_w, &fx0, &fx1);                                 \
          for (c = 0; c < p->channels; ++c) {                                                       \
            float acc = INIT, count = 0.0f;                                                         \
            for (fy = fy0; fy < fy1; ++fy) {                                                        \
              const float *row = in + ((b * p->in_h + iy0 + fy) * p->in_w + ix0) * p->channels + c; \
              for (fx = fx0; fx < fx1; ++fx) {                                                      \
                const float v = row[fx * p->channels];                                              \
                ACC;                                                                                \
                count += 1.0f;                                                                      \
              }                                                                                     \
            }                                                                                       \
            (void)count;                                                                            \
            y[c] = edgeq_clampf(FINISH, p->act_min, p->act_max);                                          \
          }                                                                                         \
        }                                                                                           \
      }                                                                                             \
    }                                                                                               \
  }

EDGEQ_F32_POOL(edgeq_avg_pool_f32, 0.0f, acc += v, acc / count)
EDGEQ_F32_POOL(edgeq_max_pool_f32, -3.40282347e+38f, acc = acc < v ? v : acc, acc)

/* input offset of output element o / reduced element r of the kept / reduced view */
static int32_t view_offset(int32_t i, int32_t n, const int32_t *size, const int32_t *stride) {
  int32_t off = 0, d;
  for (d = n - 1; d >= 0; --d) {
    off += (i % size[d]) * stride[d];
    i /= size[d];
  }
  return off;
}

static int32_t view_count(int32_t n, const int32_t *size) {
  int32_t count = 1, d;
  for (d = 0; d < n; ++d) count *= size[d];
  return count;
}

void edgeq_mean_f32(const edgeq_mean_f32_params *p, const float *in, float *out) {
  const int32_t out_count = view_count(p->n_kept, p->kept_size);
  const float n = (float)p->count;
  int32_t o, r;
  for (o = 0; o < out_count; ++o) {
    const int32_t base = view_offset(o, p->n_kept, p->kept_size, p->kept_stride);
    float sum = 0.0f;
    for (r = 0; r < p->count; ++r) sum += in[base + view_offset(r, p->n_red, p->red_size, p->red_stride)];
    out[o] = sum / n;
  }
}

void edgeq_sum_f32(const edgeq_mean_f32_params *p, const float *in, float *out) {
  const int32_t out_count = view_count(p->n_kept, p->kept_size);
  int32_t o, r;
  for (o = 0; o < out_count; ++o) {
    const int32_t base = view_offset(o, p->n_kept, p->kept_size, p->kept_stride);
    float sum = p->sum_from_first ? in[base] : 0.0f;
    for (r = p->sum_from_first ? 1 : 0; r < p->count; ++r) {
      sum = in[base + view_offset(r, p->n_red, p->red_size, p->red_stride)] + sum;
    }
    out[o] = sum;
  }
}

void edgeq_reduce_max_f32(const edgeq_mean_f32_params *p, const float *in, float *out) {
  const int32_t out_count = view_count(p->n_kept, p->kept_size);
  int32_t o, r;
  for (o = 0; o < out_count; ++o) {
    const int32_t base = view_offset(o, p->n_kept, p->kept_size, p->kept_stride);
    float acc = -3.40282347e+38f;
    for (r = 0; r < p->count; ++r) {
      const float v = in[base + view_offset(r, p->n_red, p->red_size, p->red_stride)];
      acc = v > acc ? v : acc;
    }
    out[o] = acc;
  }
}

void edgeq_reduce_min_f32(const edgeq_mean_f32_params *p, const float *in, float *out) {
  const int32_t out_count = view_count(p->n_kept, p->kept_size);
  int32_t o, r;
  for (o = 0; o < out_count; ++o) {
    const int32_t base = view_offset(o, p->n_kept, p->kept_size, p->kept_stride);
    float acc = 3.40282347e+38f;
    for (r = 0; r < p->count; ++r) {
      const float v = in[base + view_offset(r, p->n_red, p->red_size, p->red_stride)];
      acc = v < acc ? v : acc;
    }
    out[o] = acc;
  }
}
