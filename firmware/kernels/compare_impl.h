/* Body of a broadcasting comparison kernel for one element type (see compare.h). Not a header of its own:
 * a kernel source defines
 *   EDGEQ_CMP_T            input element type
 *   EDGEQ_CMP_PARAMS       the params struct type
 *   EDGEQ_CMP_NAME         the public kernel name
 *   EDGEQ_CMP_VALUE(x, k)  the value compared for element x of input k (1 or 2; `p` is in scope)
 *   EDGEQ_CMP_APPLY        edgeq_cmp_apply_i32 or edgeq_cmp_apply_f32
 * then includes this file (once per type). */

void EDGEQ_CMP_NAME(const EDGEQ_CMP_PARAMS *p, const EDGEQ_CMP_T *in1, const EDGEQ_CMP_T *in2, uint8_t *out) {
  const int32_t cmp = p->cmp;
  EDGEQ_BCAST_ROWS(p, EDGEQ_CMP_T, in1, EDGEQ_CMP_T, in2, out,
    for (i = 0; i < n; ++i) out[i] = EDGEQ_CMP_APPLY(cmp, EDGEQ_CMP_VALUE(a[i * s1], 1), EDGEQ_CMP_VALUE(b[i * s2], 2));
  );
}
