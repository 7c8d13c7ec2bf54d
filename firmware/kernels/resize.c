#include "resize.h"

static void edgeq_copy_s8(int8_t *dst, const int8_t *src, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i) dst[i] = src[i];
}

void edgeq_resize_nearest_s8(const edgeq_resize_nearest_s8_params *p, const int8_t *in, int8_t *out) {
  const size_t depth = (size_t)p->depth;
  const size_t out_row = (size_t)p->out_w * depth;
  int32_t b, y, x;
  for (b = 0; b < p->batches; ++b) {
    const int8_t *in_b = in + (size_t)b * (size_t)p->in_image;
    for (y = 0; y < p->out_h; ++y) {
      if (y > 0 && p->row_offset[y] == p->row_offset[y - 1]) {
        /* same source row as the previous output row: copy that row whole */
        edgeq_copy_s8(out, out - out_row, out_row);
      } else {
        const int8_t *src_row = in_b + p->row_offset[y];
        for (x = 0; x < p->out_w; ++x)
          edgeq_copy_s8(out + (size_t)x * depth, src_row + p->col_offset[x], depth);
      }
      out += out_row;
    }
  }
}

#define EDGEQ_RB_T int8_t
#define EDGEQ_RB_ACC int32_t /* |acc| <= 128 * 2048 * 2048 < 2^31 */
#define EDGEQ_RB_PARAMS edgeq_resize_bilinear_s8_params
#define EDGEQ_RB_NAME edgeq_resize_bilinear_s8
#include "resize_bilinear_impl.h"
