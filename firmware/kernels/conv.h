#ifndef EDGEQ_CONV_H
#define EDGEQ_CONV_H
#include "edgeq_common.h"

/* CONV_2D, int8 activations, int8 symmetric weights (per-channel or per-tensor), NHWC.
 *
 * out[b][oy][ox][oc] = clamp(out_zp + requant(bias[oc] + sum_{ky,kx,c} w[oc][ky][kx][c] *
 *                            (in[b][oy*sh - pad_h + ky*dh][ox*sw - pad_w + kx*dw][g*fin + c] + in_offset)))
 * where taps outside the input are skipped (zero padding in the real domain) and g = oc / (out_c/groups).
 *
 * acc_init (optional) is bias[oc] + input_offset * sum(w[oc]) precomputed at generation time: for output
 * pixels whose window lies entirely inside the input the kernel starts from it and accumulates w*x only.
 * (Integer addition is associative, so this is bit-exact with the reference order.) */
typedef struct {
  int32_t batches;
  int32_t in_h, in_w, in_c;
  int32_t out_h, out_w, out_c;
  int32_t k_h, k_w;
  int32_t filter_in_c; /* in_c / groups */
  int32_t stride_h, stride_w;
  int32_t dilation_h, dilation_w;
  int32_t pad_h, pad_w; /* top / left padding */
  int32_t input_offset; /* -input zero point */
  edgeq_requant_t rq;
  int32_t per_channel; /* 1: mult/shift have out_c entries, else 1 */
  const int8_t *weights;   /* [out_c][k_h][k_w][filter_in_c] */
  const int32_t *bias;     /* [out_c] or NULL */
  const int32_t *acc_init; /* [out_c] or NULL */
  const int32_t *mult;
  const int32_t *shift;
  /* DSP path (edgeq_conv_s8_im2col built with EDGEQ_DSP; the lowering calls that kernel only with
   * wq and acc_init set, double rounding and non-negative multipliers):
   * the filter as a matrix of K = k_h*k_w*filter_in_c rows (natural ky,kx,c order, zero-padded to
   * k_pad, a multiple of 8) by out_c columns, kept int8 in flash: per pair of output channels (oc, oc+1;
   * an odd last channel is paired with a zero column) and per block of 4 rows t..t+3, two words holding
   * the bytes w[oc][t..t+3] and w[oc+1][t..t+3] (first row in the lowest byte). At run time SXTB16 and
   * SXTB16 ror 8 widen a word into the int16 lanes (w[t], w[t+2]) and (w[t+1], w[t+3]), the lanes the
   * im2col buffer holds for the input (the same two instructions on the window's bytes), so the pairs of
   * __smlad line up. s4_pairs > 0: the kernel widens one channel pair into scratch once per s4_pairs
   * pixel pairs; 0: in registers, in the K loop (no scratch beyond one pixel pair's im2col). */
  int32_t k_pad;
  const int32_t *wq;
#if EDGEQ_MVE
  /* The Helium body's constants (conv_mve.h), else NULL. Only in MVE builds (a --cpu mve library does not
   * compile elsewhere), so other cores' params stay smaller. */
  const int32_t *dsp_rq;
#endif
  /* int4 weights (the int8x4 scheme: kernels edgeq_conv_s4 / edgeq_conv_s4_im2col, `weights` unused):
   * weights_s4 is the filter as TFLite packs it, [out_c][k_h][k_w][filter_in_c] two values a byte
   * (edgeq_unpack_s4), for the portable kernel. wq_s4 is the DSP path's layout, never widened: per pair
   * of output channels (oc, oc+1; an odd last channel paired with zeros) and per block of 4 of the k_pad
   * rows t..t+3, one word whose byte j holds w[oc][t+j] in its high nibble and w[oc+1][t+j] in its low
   * one. Masking the word with 0xF0F0F0F0 (and the word shifted left by 4) and SXTB16 (plain and ror 8)
   * give the four int16-lane words of wq's layout, each lane times 16 (the kernel starts its sums from
   * 16 * acc_init and requantizes them so, from dsp_me as the int8 DSP path). */
  const uint8_t *weights_s4;
  const int32_t *wq_s4;
  /* Codebook weights (a clustered int8 filter, at most 128 distinct values per output channel), or NULL:
   * weights_s4 / wq_s4 then hold indices into the channel's codebook, 2^cb_bits int8 entries (portable:
   * cb_bits-wide indices, edgeq_unpack_cb4 / edgeq_unpack_cb; DSP, edgeq_conv_cb_im2col: 4-bit indices in
   * wq_s4's nibble packing, 2-, 3- and 5- to 7-bit ones per channel pair as one little-endian bit stream of its blocks
   * of 4 rows, 8 fields a block (oc's rows t..t+3, then oc + 1's), padded to a word, (k_pad * cb_bits + 15)
   * / 16 words a pair; looked up into int16 lanes at run time, the entries themselves; an odd out_c's last
   * partner reads zeros). The
   * layer's distinct codebooks are stored once, one after the other; cb_map[oc] is the number of channel oc's,
   * or cb_map is NULL and every channel takes the first (conv_codebook). */
  const int8_t *codebook;
  const uint8_t *cb_map;
  /* DSP paths: pixel pairs sharing one widening (wq; 0: widened in registers, one pair at a time) or one
   * decode (wq_s4) of a channel pair's weights */
  int32_t s4_pairs;
  /* The DSP paths' requantization (wq and wq_s4), optional: the out_c multipliers m, then the out_c
   * exponents e = -shift >= 1 a byte each (4 to a word, first channel lowest), given only where the lowering
   * has bounded |acc| so that none of it overflows. With rb = (2 * rq.output_offset + 1) << (e - 1),
   * requant + rq.output_offset == (t + (t < 0 ? -1 : 0) + rb) >> e with t = SMMULR(2 * acc, m) =
   * SRDHM(acc, m). NULL: the generic requantization (mult, shift). */
  const int32_t *dsp_me;
  /* Codebook weights on the portable kernel (edgeq_conv_s4): the index width, 2 to 7 bits (2^cb_bits
   * codebook entries per channel, weights_s4 the indices as edgeq_unpack_cb packs them: a channel's k
   * indices follow the previous channel's, unaligned) and on the DSP path (wq_s4's width). Unused without a
   * codebook. */
  int32_t cb_bits;
} edgeq_conv_s8_params;

/* The portable kernel (the lowering picks it when there is no wq). */
void edgeq_conv_s8(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out);

/* Same result; with the DSP extension (and wq) the input windows of max(s4_pairs, 1) pairs of output pixels
 * are gathered (im2col, sign-extended to int16 lanes, padding taps set to the input zero point) into
 * `scratch` (8-byte aligned) and multiplied with wq's weights, widened once per group into scratch after
 * them (s4_pairs > 0) or in registers (0). Without it, scratch is unused. */
void edgeq_conv_s8_im2col(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
/* The most pixel pairs edgeq_conv_s8_im2col takes in one group (s4_pairs; the lowering offers groups up to
 * this size, taken where the arena has the bytes free: more pixel pairs per widening of a channel pair). The
 * accumulators of a group of at most EDGEQ_CONV_DSP_STACK_PAIRS live on the stack (128 B), a larger group's in
 * the scratch. */
#define EDGEQ_CONV_DSP_MAX_PAIRS 32
#define EDGEQ_CONV_DSP_STACK_PAIRS 8
/* The DSP convolutions' scratch: per pixel pair, per block of 4 of the k_pad rows, the even and odd int16
 * lanes of both pixels (4 words); with s4_pairs > 0, s4_pairs such pairs, then the widened channel pair (4
 * words a block), then for more than EDGEQ_CONV_DSP_STACK_PAIRS pairs the group's accumulators (4 words a
 * pixel pair). */
#define edgeq_conv_dsp_scratch_bytes(k_pad, s4_pairs)                                                   \
  (((size_t)((s4_pairs) + 1) * (size_t)(k_pad) +                                                        \
    ((s4_pairs) > EDGEQ_CONV_DSP_STACK_PAIRS ? 4u * (size_t)(s4_pairs) : 0u)) * sizeof(int32_t))
#define edgeq_conv_s8_im2col_scratch_bytes(k_pad, s4_pairs) edgeq_conv_dsp_scratch_bytes(k_pad, s4_pairs)
#if !EDGEQ_DSP
/* no DSP extension: call the portable kernel directly (no wrapper on the portable path) */
#define edgeq_conv_s8_im2col(p, in, out, scratch) ((void)(scratch), edgeq_conv_s8((p), (in), (out)))
#endif

/* int4 weights, portable: output channel by output channel, the channel's filter row is decoded from
 * weights_s4 into `scratch` (k_h * k_w * filter_in_c bytes) once and used for every output pixel (the
 * output is written channel-major: no overlap of input and output). */
void edgeq_conv_s4(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_conv_s4_scratch_bytes(k_h, k_w, filter_in_c) ((size_t)(k_h) * (size_t)(k_w) * (size_t)(filter_in_c))

/* int4 or codebook weights, DSP: edgeq_conv_s8_im2col's loop over groups of s4_pairs pixel pairs: their
 * windows are gathered first, then each channel pair's weights are decoded from wq_s4 (and codebook) once
 * into the int16 lanes of wq's layout (in scratch) and used by every pixel pair of the group, with the int8
 * path's K loop and requantization (the lowering calls it only with wq_s4, acc_init, groups == 1, double
 * rounding and non-negative multipliers). Scratch: the group's im2col buffers and the decoded channel pair.
 * Without the DSP extension: edgeq_conv_s4 (which needs weights_s4 and at most k_pad bytes of the scratch). */
void edgeq_conv_s4_im2col(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_conv_s4_im2col_scratch_bytes(k_pad, s4_pairs) edgeq_conv_dsp_scratch_bytes(k_pad, s4_pairs)
#if !EDGEQ_DSP
#define edgeq_conv_s4_im2col(p, in, out, scratch) edgeq_conv_s4((p), (in), (out), (scratch))
#endif

/* Codebook weights (2-, 3- or 4-bit indices; 5 to 7: edgeq_conv_cbw_im2col), DSP: edgeq_conv_s4_im2col's loop with each channel pair's indices
 * looked up in its codebooks (wq_s4, codebook, cb_map, cb_bits) once per group into the int16 lanes, the sums
 * unscaled. Its own entry point, so that int4 images do not link the codebook decodes nor codebook images the
 * int4 one. Without the DSP extension: edgeq_conv_s4. */
void edgeq_conv_cb_im2col(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_conv_cb_im2col_scratch_bytes(k_pad, s4_pairs) edgeq_conv_dsp_scratch_bytes(k_pad, s4_pairs)
#if !EDGEQ_DSP
#define edgeq_conv_cb_im2col(p, in, out, scratch) edgeq_conv_s4((p), (in), (out), (scratch))
#endif

/* edgeq_conv_cb_im2col for 5- to 7-bit indices (conv.c conv_decode_cbw: each block's two runs of 4 fields
 * taken from the one or two words holding them). Its own entry point, so that 2- to 4-bit images do not link
 * the wide decode. Without the DSP extension: edgeq_conv_s4. */
void edgeq_conv_cbw_im2col(const edgeq_conv_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_conv_cbw_im2col_scratch_bytes(k_pad, s4_pairs) edgeq_conv_dsp_scratch_bytes(k_pad, s4_pairs)
#if !EDGEQ_DSP
#define edgeq_conv_cbw_im2col(p, in, out, scratch) edgeq_conv_s4((p), (in), (out), (scratch))
#endif

#endif
