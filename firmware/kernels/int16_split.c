#include "int16_split.h"

#include <string.h>

void edgeq_split_s16(const edgeq_split_s16_params *p, const int16_t *in, int16_t *const *outputs) {
  int32_t o, i;
  for (o = 0; o < p->outer; ++o) {
    for (i = 0; i < p->num_outputs; ++i) {
      const int32_t n = p->sizes[i];
      memcpy(outputs[i] + (size_t)o * (size_t)n, in, (size_t)n * sizeof(int16_t));
      in += n;
    }
  }
}
