#include "cast.h"

/* The value of element i of an integer (or bool) tensor. */
static int64_t cast_load_int(int32_t type, const void *in, int32_t i) {
  switch (type) {
    case EDGEQ_CAST_INT8: return ((const int8_t *)in)[i];
    case EDGEQ_CAST_UINT8: return ((const uint8_t *)in)[i];
    case EDGEQ_CAST_INT16: return ((const int16_t *)in)[i];
    case EDGEQ_CAST_INT32: return ((const int32_t *)in)[i];
    case EDGEQ_CAST_INT64: return ((const int64_t *)in)[i];
    default: return ((const uint8_t *)in)[i] != 0; /* bool */
  }
}

/* Store an integer: wrap-around to the destination width (through unsigned arithmetic), bool: != 0. */
static void cast_store_int(int32_t type, void *out, int32_t i, int64_t v) {
  switch (type) {
    case EDGEQ_CAST_INT8: ((int8_t *)out)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case EDGEQ_CAST_UINT8: ((uint8_t *)out)[i] = (uint8_t)(uint64_t)v; break;
    case EDGEQ_CAST_INT16: ((int16_t *)out)[i] = (int16_t)(uint16_t)(uint64_t)v; break;
    case EDGEQ_CAST_INT32: ((int32_t *)out)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case EDGEQ_CAST_INT64: ((int64_t *)out)[i] = v; break;
    case EDGEQ_CAST_FLOAT32: ((float *)out)[i] = (float)v; break;
    default: ((uint8_t *)out)[i] = (uint8_t)(v != 0); break; /* bool */
  }
}

/* float -> integer type: truncation toward zero, saturated to the type's range (NaN -> 0). */
static int64_t cast_float_to_int(int32_t type, float f) {
  double lo, hi;
  switch (type) {
    case EDGEQ_CAST_INT8: lo = -128.0; hi = 127.0; break;
    case EDGEQ_CAST_UINT8: lo = 0.0; hi = 255.0; break;
    case EDGEQ_CAST_INT16: lo = -32768.0; hi = 32767.0; break;
    case EDGEQ_CAST_INT32: lo = -2147483648.0; hi = 2147483647.0; break;
    default: lo = -9223372036854775808.0; hi = 9223372036854775807.0; break; /* int64 */
  }
  if (f != f) return 0;
  if ((double)f <= lo) return type == EDGEQ_CAST_INT64 ? INT64_MIN : (int64_t)lo;
  if ((double)f >= hi) return type == EDGEQ_CAST_INT64 ? INT64_MAX : (int64_t)hi;
  return (int64_t)f;
}

void edgeq_cast(const edgeq_cast_params *p, const void *in, void *out) {
  int32_t i;
  if (p->in_type == EDGEQ_CAST_FLOAT32) {
    const float *x = (const float *)in;
    for (i = 0; i < p->size; ++i) {
      if (p->out_type == EDGEQ_CAST_FLOAT32) {
        ((float *)out)[i] = x[i];
      } else if (p->out_type == EDGEQ_CAST_BOOL) {
        ((uint8_t *)out)[i] = (uint8_t)(x[i] != 0.0f);
      } else {
        cast_store_int(p->out_type, out, i, cast_float_to_int(p->out_type, x[i]));
      }
    }
  } else {
    for (i = 0; i < p->size; ++i) cast_store_int(p->out_type, out, i, cast_load_int(p->in_type, in, i));
  }
}
