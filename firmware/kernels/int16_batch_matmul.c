#include "int16_batch_matmul.h"
#include "int16_conv.h" /* edgeq_requant_s64 */

#define EDGEQ_BMM_T int16_t
#define EDGEQ_BMM_ACC_T int64_t
#define EDGEQ_BMM_TERM(l, r) ((int64_t)(l) * (int64_t)(r))
#define EDGEQ_BMM_OUT(p, acc) \
  ((int16_t)edgeq_clamp_i32(edgeq_requant_s64((acc), (p)->reduced_mult, (p)->total_shift) + (p)->output_offset, \
                            -32768, 32767))
#define EDGEQ_BMM_PARAMS edgeq_batch_matmul_s16_params
#define EDGEQ_BMM_FN edgeq_batch_matmul_s16
#include "batch_matmul_impl.h"
