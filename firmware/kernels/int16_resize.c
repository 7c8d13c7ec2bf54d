#include "int16_resize.h"

#define EDGEQ_RB_T int16_t
#define EDGEQ_RB_ACC int64_t /* |acc| <= 32768 * 2048 * 2048 = 2^37 */
#define EDGEQ_RB_PARAMS edgeq_resize_bilinear_s16_params
#define EDGEQ_RB_NAME edgeq_resize_bilinear_s16
#include "resize_bilinear_impl.h"
