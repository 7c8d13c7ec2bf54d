/* Body of the GATHER kernel for one element type (see gather.h for the parameters). Not a header of its
 * own: a kernel source defines
 *   EDGEQ_GA_T     element type (int8_t, int16_t, float)
 *   EDGEQ_GA_NAME  the public kernel name
 * then includes this file once. Sizes are in elements. */

void EDGEQ_GA_NAME(const edgeq_gather_params *p, const EDGEQ_GA_T *params, const void *indices, EDGEQ_GA_T *out) {
  const int32_t *idx32 = (const int32_t *)indices;
  const int64_t *idx64 = (const int64_t *)indices;
  const size_t inner = (size_t)p->inner;
  int32_t b, o, i;
  size_t k;
  for (b = 0; b < p->batches; ++b) {
    for (o = 0; o < p->outer; ++o) {
      const EDGEQ_GA_T *slab = params + ((size_t)b * (size_t)p->outer + (size_t)o) * (size_t)p->axis_size * inner;
      for (i = 0; i < p->coords; ++i) {
        const size_t at = (size_t)b * (size_t)p->coords + (size_t)i;
        const int64_t c = p->wide_indices ? idx64[at] : (int64_t)idx32[at];
        if (c >= 0 && c < p->axis_size) {
          memcpy(out, slab + (size_t)c * inner, inner * sizeof(EDGEQ_GA_T));
        } else {
          for (k = 0; k < inner; ++k) out[k] = (EDGEQ_GA_T)p->fill;
        }
        out += inner;
      }
    }
  }
}
