#ifndef EDGEQ_TRANSPOSE_CONV_H
#define EDGEQ_TRANSPOSE_CONV_H
#include "edgeq_common.h"

/* TRANSPOSE_CONV, int8 activations, int8 symmetric weights (per-channel or broadcast per-tensor).
 *
 * As TFLite's reference kernel: every input pixel is scattered into an int32 accumulator the size of
 * the output (out[b][oy][ox][oc] += (in[b][iy][ix][ic] + input_offset) * w[oc][fy][fx][ic] with
 * oy = iy * stride_h - pad_h + fy, ox = ix * stride_w - pad_w + fx, out-of-range positions skipped),
 * then each accumulator gets the bias, is requantized per output channel, offset and clamped.
 * `scratch` (4-byte aligned) holds those accumulators: edgeq_transpose_conv_s8_scratch_bytes. */
typedef struct {
  int32_t batches;
  int32_t in_h;
  int32_t in_w;
  int32_t in_c;
  int32_t out_h;
  int32_t out_w;
  int32_t out_c;
  int32_t k_h;
  int32_t k_w;
  int32_t stride_h;
  int32_t stride_w;
  int32_t pad_h; /* top padding as TFLite computes it for the transposed conv */
  int32_t pad_w; /* left padding */
  int32_t input_offset; /* -input zero point */
  edgeq_requant_t rq;
  const int8_t *weights; /* [out_c][k_h][k_w][in_c] (OHWI) */
  const int32_t *bias;   /* [out_c] or NULL */
  const int32_t *mult;   /* [out_c] */
  const int32_t *shift;  /* [out_c] */
} edgeq_transpose_conv_s8_params;

void edgeq_transpose_conv_s8(const edgeq_transpose_conv_s8_params *p, const int8_t *in, int8_t *out,
                             void *scratch);
/* one int32 accumulator per output value */
#define edgeq_transpose_conv_s8_scratch_bytes(batches, out_h, out_w, out_c) \
  ((size_t)(batches) * (size_t)(out_h) * (size_t)(out_w) * (size_t)(out_c) * sizeof(int32_t))

#endif
