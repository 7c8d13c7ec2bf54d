#ifndef EDGEQ_INT16_CONV_H
#define EDGEQ_INT16_CONV_H
#include "edgeq_common.h"

/* TFLite MultiplyByQuantizedMultiplier(int64_t x, m, shift): the q31 multiplier reduced to 16 bits
 * (reduced = m < 0x7FFF0000 ? (m + 2^15) >> 16 : 0x7FFF), then one rounding shift by total = 15 - shift.
 * The lowering computes `reduced` and `total` (edgeq/passes/lower/int16/conv.py). */
EDGEQ_INLINE int32_t edgeq_requant_s64(int64_t x, int32_t reduced_mult, int32_t total_shift) {
  return (int32_t)((x * (int64_t)reduced_mult + ((int64_t)1 << (total_shift - 1))) >> total_shift);
}

/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int16 activations (zero point 0), int8 symmetric
 * weights and optional int64 bias, as TFLite's reference_integer_ops 16x8 kernels:
 *   acc = sum w * x (int64, taps outside the input skipped) + bias
 *   out = clamp(requant_s64(acc, mult[c], tshift[c]) + output_offset, act_min, act_max)
 * mult / tshift are per output channel (the lowering repeats a per-tensor pair). */
typedef struct {
  int32_t batches;
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t filter_in_c; /* in_c / groups (CONV_2D); depth multiplier (DEPTHWISE_CONV_2D) */
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;
  int32_t act_min, act_max;
  /* CONV_2D only: 1 when the lowering reordered the weights for the 4-channel dot product (groups 1,
   * filter_in_c a multiple of 4 and <= 508): within each block of 4 input channels the bytes are stored
   * (w0, w2, w1, w3), so that SXTB16 of the word gives the lanes (w0, w1) and SXTB16 of the word rotated
   * by 8 gives (w2, w3), matching two int16 input pairs for SMLAD (portable C reads the bytes). */
  int32_t reordered;
  /* CONV_2D: 1 when sum_i |w[oc][i]| * 32768 < 2^31 for every channel, so a whole window sums in int32 */
  int32_t acc32;
  const int8_t *weights;  /* CONV_2D [out_c][k_h][k_w][filter_in_c]; DEPTHWISE [k_h][k_w][out_c] */
  const int64_t *bias;    /* [out_c] or NULL */
  const int32_t *mult;    /* [out_c] reduced (16-bit) multipliers */
  const int32_t *tshift;  /* [out_c] total right shifts (15 - shift) */
  /* The _cb kernels only (weights NULL): a clustered filter with at most 2^cb_bits values per output channel, as
   * cb_bits-wide indices (2 to 7: at most 4 to 128 values in every channel) in one little-endian bit stream
   * (edgeq_unpack_cb; 4 bits: two a byte, low nibble first) in output-channel-major order (CONV_2D
   * [out_c][k_h][k_w][filter_in_c], DEPTHWISE [out_c][k_h][k_w]), a channel's indices right after the previous
   * channel's, and 2^cb_bits int8 codebook entries per channel. */
  const uint8_t *weights_cb;
  const int8_t *codebook; /* [out_c][1 << cb_bits] */
  int32_t cb_bits;
} edgeq_conv_s16_params;

void edgeq_conv_s16(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out);
void edgeq_depthwise_conv_s16(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out);
/* The same result with out_c int32 accumulators in `scratch` (4-byte aligned): per output pixel, each valid
 * tap adds w * x over the contiguous channels. The lowering takes it when acc32 holds (sum over taps of
 * |w| * 32768 < 2^31 for every channel). */
void edgeq_depthwise_conv_s16_acc(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch);
#define edgeq_depthwise_conv_s16_acc_scratch_bytes(out_c) ((size_t)(out_c) * sizeof(int32_t))

/* Codebook filters (weights_cb + codebook, cb_bits): output rows in raster order; within a row, output channel by
 * output channel, the channel's filter row is decoded through its codebook into `scratch` and used for every
 * pixel of the row (a decode per channel and output row: 1 / out_w of the multiply-adds); with `reordered` the
 * decoded rows are put in the reordered layout and two channels summed at a time with the 4-channel dot product
 * (CONV_2D scratch: two decoded rows). Input and output may
 * overlap by geometry.raster_overlap_margin(per_row=True). The same sums as edgeq_conv_s16 / _depthwise_conv_s16. */
void edgeq_conv_s16_cb(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch);
#define edgeq_conv_s16_cb_scratch_bytes(k_h, k_w, filter_in_c) \
  (2 * (size_t)(k_h) * (size_t)(k_w) * (size_t)(filter_in_c))
void edgeq_depthwise_conv_s16_cb(const edgeq_conv_s16_params *p, const int16_t *in, int16_t *out, void *scratch);
#define edgeq_depthwise_conv_s16_cb_scratch_bytes(k_h, k_w) ((size_t)(k_h) * (size_t)(k_w))

/* FULLY_CONNECTED: unlike the convolutions, LiteRT's 16x8 FullyConnected requantizes with the full q31
 * multiplier (MultiplyByQuantizedMultiplier on the accumulator, which the lowering bounds to int32):
 *   out = clamp(requant(acc, mult[o], shift[o], rq.rounding) + rq.output_offset, rq.act_min, rq.act_max)
 * TFLM's (`reduced` = 1) with the convolutions' int64 requantizer: mult / shift then hold the reduced
 * multipliers and total shifts. */
typedef struct {
  int32_t batches;
  int32_t in_features, out_features;
  int32_t reduced;
  edgeq_requant_t rq;
  const int8_t *weights; /* [out_features][in_features] */
  const int64_t *bias;   /* [out_features] or NULL */
  const int32_t *mult;   /* [out_features] q31 multipliers */
  const int32_t *shift;  /* [out_features] */
  /* edgeq_fully_connected_s16_cb only (weights NULL): [out_features][in_features] cb_bits-wide codebook indices
   * (2 to 7 bits, one little-endian bit stream as edgeq_conv_s16_params') and 2^cb_bits int8 codebook entries
   * per output feature. */
  const uint8_t *weights_cb;
  const int8_t *codebook; /* [out_features][1 << cb_bits] */
  int32_t cb_bits;
} edgeq_fully_connected_s16_params;

void edgeq_fully_connected_s16(const edgeq_fully_connected_s16_params *p, const int16_t *in, int16_t *out);
/* Codebook weights: each output feature's row decoded once into `scratch` (in_features bytes), then used for
 * every batch row. */
void edgeq_fully_connected_s16_cb(const edgeq_fully_connected_s16_params *p, const int16_t *in, int16_t *out,
                                  void *scratch);
#define edgeq_fully_connected_s16_cb_scratch_bytes(in_features) ((size_t)(in_features))

#endif
