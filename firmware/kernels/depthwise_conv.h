#ifndef EDGEQ_DEPTHWISE_CONV_H
#define EDGEQ_DEPTHWISE_CONV_H
#include "edgeq_common.h"

/* DEPTHWISE_CONV_2D, int8 activations, int8 symmetric weights (per-channel or per-tensor), NHWC.
 *
 * out[b][oy][ox][oc] = clamp(out_zp + requant(bias[oc] + sum_{ky,kx} w[ky][kx][oc] *
 *                            (in[b][oy*sh - pad_h + ky*dh][ox*sw - pad_w + kx*dw][oc / depth_mult] + in_offset)))
 * with out_c = in_c * depth_mult; taps outside the input are skipped.
 * acc_init (optional) = bias[oc] + input_offset * sum_{ky,kx} w[ky][kx][oc], used for windows fully
 * inside the input. */
typedef struct {
  int32_t batches;
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t depth_mult;
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w;
  int32_t input_offset; /* -input zero point */
  edgeq_requant_t rq;
  int32_t per_channel; /* 1: mult/shift have out_c entries, else 1 */
  const int8_t *weights;   /* [k_h][k_w][out_c] */
  const int32_t *bias;     /* [out_c] or NULL */
  const int32_t *acc_init; /* [out_c] or NULL */
  const int32_t *mult;
  const int32_t *shift;
  /* Cortex-M DSP path (firmware built with EDGEQ_DSP; ignored elsewhere), or NULL. The lowering
   * emits it only for 2 to EDGEQ_DW_DSP_MAX_TAPS taps (T = k_h * k_w), depth_mult 1, out_c <= 256, acc_init
   * present, double rounding, right shifts >= 1 (no left shift), and when it is exact (see
   * edgeq/passes/lower/int8/depthwise_conv.py _dw_dsp_pack). Per group of 4 output channels c0..c3 (the last
   * group padded with zero-weight lanes when out_c % 4 != 0), T + EDGEQ_DW_DSP_GROUP_CONSTS int32 words:
   *   [4]  acc_init[c]
   *   [2 (T / 2)] per tap pair (2P, 2P+1), taps in raster order (ky, kx), two words of int8 weights: bytes
   *        (w[2P][c0], w[2P][c1], w[2P+1][c0], w[2P+1][c1]) then the same for c2, c3 (SXTB16 gives one
   *        channel's two taps)
   *   [T % 2] the last tap when T is odd: bytes (w[T-1][c0], w[T-1][c1], w[T-1][c2], w[T-1][c3])
   *   [1]  bytes (e_c0 - 1, e_c1 - 1, e_c2 - 1, e_c3 - 1), e_c = right shift >= 1
   *   [4]  m2[c] = 2 * multiplier[c] - 2^32 (multipliers are >= 2^30, so it is an int32)
   * With x = SaturatingRoundingDoublingHighMul(acc, m) = (2 acc m + 2^31) >> 32 = ((acc m2 + 2^31) >> 32) + acc
   * (SMMLAR(acc, m2, acc)) and k = 2 * rq.output_offset + 1: RoundingDivideByPOT(x, e) + rq.output_offset =
   * (x + 2^(e-1) - (x < 0) + output_offset 2^e) >> e = ((((x - (acc < 0)) >> (e - 1)) + k) >> 1), which the
   * kernel saturates to int8 (x < 0 only when acc < 0, and acc < 0 with x >= 0 means x = 0, where both give
   * the same; the lowering checks that the accumulators cannot wrap, |2 acc| < 2^31). */
  const int32_t *dsp_pack;
  /* int4 weights (the int8x4 scheme, kernel edgeq_depthwise_conv_s4; `weights` unused): the filter as
   * TFLite packs it, [k_h][k_w][out_c] two values a byte (edgeq_unpack_s4).
   * Codebook weights (a clustered int8 filter, kernel edgeq_depthwise_conv_cb; `weights` unused): cb_bits-wide
   * indices (2 to 7 bits) as edgeq_unpack_cb packs them, channel after channel, [out_c][k_h][k_w] (a channel's
   * taps in raster order, the next channel's following unaligned), each naming an entry of its channel's
   * codebook. */
  const uint8_t *weights_s4;
  /* int4 or codebook weights, DSP path (EDGEQ_DSP builds), or NULL: dsp_pack without its weight words (per
   * group of 4 channels, EDGEQ_DW_DSP_GROUP_CONSTS words: [4] acc_init, [5] shifts and m2 as in dsp_pack). The
   * kernel builds the whole dsp_pack (dsp_pack_words words) in scratch at each call, the k_h * k_w weight words
   * of a group decoded from weights_s4 as int8 bytes, and runs the DSP loop on it. */
  const int32_t *dsp_pack_s4;
  int32_t dsp_pack_words;
  /* Codebook weights (edgeq_depthwise_conv_cb; unused elsewhere): the layer's distinct codebooks of 2^cb_bits
   * int8 entries, one after the other; cb_map[oc] the number of channel oc's, or cb_map NULL and every channel
   * takes the first (as conv.h's). */
  const int8_t *codebook;
  const uint8_t *cb_map;
  int32_t cb_bits;
  /* Helium path (EDGEQ_MVE builds), or NULL: weights and constants per group of 16 channels, see
   * depthwise_conv_mve.h. */
  const int32_t *mve_pack;
} edgeq_depthwise_conv_s8_params;

/* dsp_pack's words per group of 4 channels besides its k_h * k_w weight words (all of dsp_pack_s4's) */
#define EDGEQ_DW_DSP_GROUP_CONSTS 9
/* the DSP path's largest window (k_h * k_w; the per-pixel tap offsets are on the stack) */
#define EDGEQ_DW_DSP_MAX_TAPS 49

void edgeq_depthwise_conv_s8(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out);
/* The DSP path alone (EDGEQ_DSP builds; dsp_pack set): what --cpu dsp libraries call, so that the portable
 * kernel is linked only where some layer needs it: _dsp for 3x3 windows (its loop unrolled), _dsp_any for
 * every other window, so that each body too is linked only where some layer needs it. */
void edgeq_depthwise_conv_s8_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out);
void edgeq_depthwise_conv_s8_dsp_any(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out);

/* int4 weights: on DSP builds with dsp_pack_s4, the DSP path on the pack built in `scratch`; otherwise per
 * block of up to 32 output channels, the block's k_h * k_w taps are decoded from weights_s4 into `scratch`
 * once and used for every output pixel (the output is written block by block: no overlap of input and
 * output). Scratch: the larger of the two. */
void edgeq_depthwise_conv_s4(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_depthwise_conv_s4_scratch_bytes(k_h, k_w, out_c, dsp_pack_words)                       \
  ((size_t)(k_h) * (size_t)(k_w) * (size_t)((out_c) < 32 ? (out_c) : 32) > (size_t)(dsp_pack_words) * 4u \
       ? (size_t)(k_h) * (size_t)(k_w) * (size_t)((out_c) < 32 ? (out_c) : 32)                       \
       : (size_t)(dsp_pack_words) * 4u)

/* Codebook weights (weights_s4, codebook, cb_map, cb_bits): edgeq_depthwise_conv_s4's kernel with the
 * codebook decode (its own entry point: int4 images link no codebook decode, codebook images no nibble one).
 * Scratch: edgeq_depthwise_conv_s4's and k_h * k_w bytes more (a channel's indices decoded by edgeq_unpack_cb
 * before they are spread over the block's layout). */
void edgeq_depthwise_conv_cb(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_depthwise_conv_cb_scratch_bytes(k_h, k_w, out_c, dsp_pack_words) \
  (edgeq_depthwise_conv_s4_scratch_bytes(k_h, k_w, out_c, dsp_pack_words) + (size_t)(k_h) * (size_t)(k_w))
/* The DSP path alone (EDGEQ_DSP builds, dsp_pack_s4 set; what --cpu dsp libraries call, as
 * edgeq_depthwise_conv_s8_dsp / _dsp_any): _dsp for 3x3 windows, _dsp_any for the others. Scratch: the pack and
 * k_h * k_w bytes. */
void edgeq_depthwise_conv_cb_dsp(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out,
                                 void *scratch);
void edgeq_depthwise_conv_cb_dsp_any(const edgeq_depthwise_conv_s8_params *p, const int8_t *in, int8_t *out,
                                     void *scratch);
#define edgeq_depthwise_conv_cb_dsp_scratch_bytes(k_h, k_w, dsp_pack_words) \
  ((size_t)(dsp_pack_words) * 4u + (size_t)(k_h) * (size_t)(k_w))
#define edgeq_depthwise_conv_cb_dsp_any_scratch_bytes(k_h, k_w, dsp_pack_words) \
  edgeq_depthwise_conv_cb_dsp_scratch_bytes(k_h, k_w, dsp_pack_words)

#endif
