#include "shape_ops.h"

#include <string.h>

static void edgeq_sh_fill(int8_t *out, int32_t v, size_t n) { memset(out, (int)v, n); }

#define EDGEQ_SH_T int8_t
#define EDGEQ_SH_LO (-128)
#define EDGEQ_SH_HI 127
#define EDGEQ_SH_CONCAT_PARAMS edgeq_concat_s8_params
#define EDGEQ_SH_PAD_PARAMS edgeq_pad_s8_params
#define EDGEQ_SH_CONCAT edgeq_concat_s8
#define EDGEQ_SH_PAD edgeq_pad_s8
#include "shape_impl.h"

void edgeq_strided_slice_s8(const edgeq_strided_slice_s8_params *p, const int8_t *in, int8_t *out) {
  const int32_t *c = p->count;
  const int32_t *s = p->step;
  int32_t i0, i1, i2, i3, i4;
  int32_t o0, o1, o2, o3, o4; /* element offsets: integers, so negative steps never form bad pointers */
  for (i0 = 0, o0 = p->offset; i0 < c[0]; ++i0, o0 += s[0]) {
    for (i1 = 0, o1 = o0; i1 < c[1]; ++i1, o1 += s[1]) {
      for (i2 = 0, o2 = o1; i2 < c[2]; ++i2, o2 += s[2]) {
        for (i3 = 0, o3 = o2; i3 < c[3]; ++i3, o3 += s[3]) {
          if (s[4] == 1) {
            memcpy(out, in + o3, (size_t)c[4]);
            out += c[4];
          } else {
            for (i4 = 0, o4 = o3; i4 < c[4]; ++i4, o4 += s[4]) *out++ = in[o4];
          }
        }
      }
    }
  }
}
