#include "float32_split.h"

#include <string.h>

void edgeq_split_f32(const edgeq_split_f32_params *p, const float *in, float *const *outputs) {
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->num_outputs; ++i) {
      const int32_t n = p->sizes[i];
      memcpy(outputs[i] + (size_t)o * (size_t)n, in, (size_t)n * sizeof(float));
      in += n;
    }
  }
}
