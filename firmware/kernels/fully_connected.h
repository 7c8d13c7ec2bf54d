#ifndef EDGEQ_FULLY_CONNECTED_H
#define EDGEQ_FULLY_CONNECTED_H
#include "edgeq_common.h"

/* out[b][o] = clamp(out_zp + requant(sum_i in[b][i] * w[o][i] + bias[o]))
 *
 * The input zero point is folded into bias (bias[o] - in_zp * sum_i w[o][i]) and the weights are in the
 * row-pair layout described in edgeq/passes/lower/int8/fully_connected.py. With sparse = 1 every even row is a
 * zero row that is not stored (out_features counts them; output o is row 2o + 1). */
typedef struct {
  int32_t batches;
  int32_t in_features;
  int32_t out_features; /* rows of the packed weights */
  int32_t sparse;       /* 0, or 1: rows 2o are zero padding */
  int32_t chunk;        /* steps of 4 inputs between two separations of the row-pair sums (>= 1) */
  edgeq_requant_t rq;
  int32_t per_channel; /* 1: mult/shift have out_features entries, else 1 */
  /* The weights in the kernel's layout: int32 words of packed row pairs (edgeq_fully_connected_s8 and
   * _compact); for edgeq_fully_connected_s4 the [out_features][in_features] int4 matrix as TFLite packs it,
   * two values a byte (edgeq_unpack_s4), or its codebook indices (cb_bits wide, edgeq_unpack_cb4 /
   * edgeq_unpack_cb, a row's in_features indices following the previous row's). */
  const void *weights;
  const int32_t *bias;    /* [out_features], input offset folded in */
  const int32_t *mult;
  const int32_t *shift;
  /* Codebook weights (a clustered int8 matrix; kernel edgeq_fully_connected_s4, sparse 0), or NULL for int4
   * ones (the int8x4 scheme): `weights` then holds cb_bits-wide indices into the row's codebook of 2^cb_bits
   * entries. The layer's distinct codebooks are stored once, one after the other; cb_map[o] is the number of
   * row o's, or cb_map is NULL and every row takes the first. */
  const int8_t *codebook;
  const uint8_t *cb_map;
#if EDGEQ_MVE
  /* Helium cores (--cpu mve; fully_connected_mve.h), else NULL: the plain int8 matrix [rows][in_features],
   * rows = max(out_features, 4) (zero rows past out_features; bias has rows entries), `weights` NULL, sparse 0.
   * Only in MVE builds (a --cpu mve library does not compile elsewhere), so other cores' params stay smaller. */
  const int8_t *weights_s8;
#endif
  /* Codebook weights: the index width, 2 to 7 bits (2^cb_bits codebook entries per row). */
  int32_t cb_bits;
} edgeq_fully_connected_s8_params;

void edgeq_fully_connected_s8(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out);
/* The same result from the same params (not the Helium ones: weights_s8 NULL) without the DSP assembly loop:
 * C sums of the packed row pairs. The lowering calls it for layers too small for the loop's speed to matter
 * (FC_COMPACT_MACS), so that a model without a large layer does not link the assembly (code size). */
void edgeq_fully_connected_s8_compact(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out);

/* int4 weights: row by row, the row is decoded into `scratch` once and multiplied with every batch's
 * input (bias holds the folded input offset, as for edgeq_fully_connected_s8). */
void edgeq_fully_connected_s4(const edgeq_fully_connected_s8_params *p, const int8_t *in, int8_t *out, void *scratch);
#define edgeq_fully_connected_s4_scratch_bytes(in_features) ((size_t)(in_features))

#endif
