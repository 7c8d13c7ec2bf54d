#ifndef EDGEQ_LSTM_H
#define EDGEQ_LSTM_H
#include "edgeq_common.h"

/* int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int8 input, output and weights, int16 cell state), as LiteRT's
 * integer 8x8_16 kernel (lstm_eval.cc) without peephole, projection, CIFG or layer norm (mode
 * EDGEQ_LSTM_LITERT), or as TFLM's (mode EDGEQ_LSTM_TFLM, below).
 *
 * For each sequence b and step t, with x = in row (b, t) and h = the previous output row of the sequence
 * (h0 at t = 0), and for each cell j and gate g in (input, forget, cell, output):
 *   a_g  = sat16(requant(bias_in[g][j] + x . w_in[g][j], mult[2g], shift[2g]))
 *   a_g  = sat16(a_g + requant(bias_rec[g][j] + h . w_rec[g][j], mult[2g+1], shift[2g+1]))   (Q3.12)
 *   i, f, o = sigmoid(a) and g = tanh(a), gemmlowp int16 fixed point, all Q0.15
 *   c    = clip(sat16(rdbpot(f * c, 15) + rdbpot(i * g, cell_shift)))     (cell_shift = 30 + log2 cell scale)
 *   out  = sat8(requant(o * tanh_{cell_int_bits}(c), hidden_mult, hidden_shift) + hidden_zp)
 * The input and recurrent zero points are folded into bias_in / bias_rec (computed by the lowering).
 * Row (b, t) of the input starts at (b * batch_stride + t * step_stride) * n_input; of the output at
 * the same row index times n_cell. The state starts from h0 / c0 every call (stateless inference).
 *
 * EDGEQ_LSTM_TFLM (TFLM's lstm_eval.h: per-gate FullyConnected, then reference_integer_ops Logistic / Tanh
 * / MulElementwise): the gates' pre-activations are the same; then
 *   i, f, o = logistic and g = tanh by the int16 sigmoid table (int16_sigmoid.h, multiplier 3, shift 0)
 *   c    = clip(sat16(sat16(requant(f * c, fc_mult, fc_shift))
 *                     + sat16(requant(i * g, ig_mult, ig_shift))))
 *   out  = sat8(requant(tanh_table(c, tanh_mult, tanh_shift) * o, hidden_mult, hidden_shift) + hidden_zp)
 * with every requant double-rounded (TFLM's MultiplyByQuantizedMultiplier). */
#define EDGEQ_LSTM_LITERT 0
#define EDGEQ_LSTM_TFLM 1

typedef struct {
  int32_t mode;          /* EDGEQ_LSTM_LITERT or EDGEQ_LSTM_TFLM */
  int32_t batches;
  int32_t time_steps;
  int32_t batch_stride; /* rows between two sequences: time_steps (batch major) or 1 (time major) */
  int32_t step_stride;  /* rows between two steps: 1 (batch major) or batches (time major) */
  int32_t n_input;
  int32_t n_cell;
  int32_t cell_shift;    /* right shift of i * g into the cell state's scale */
  int32_t cell_int_bits; /* integer bits of the cell state as a Q format (0..6) */
  int32_t cell_clip;     /* 0: none, else |c| <= cell_clip */
  int32_t hidden_mult;
  int32_t hidden_shift;
  int32_t hidden_zp;     /* output zero point */
  int32_t rounding;
  const int8_t *w_in;      /* [4][n_cell][n_input], gates in the order i, f, c, o */
  const int8_t *w_rec;     /* [4][n_cell][n_cell] */
  const int32_t *bias_in;  /* [4][n_cell]: gate bias - input_zp * sum(w_in row) */
  const int32_t *bias_rec; /* [4][n_cell]: -output_zp * sum(w_rec row) */
  const int32_t *mult;     /* [8]: gate g input at 2g, recurrent at 2g + 1 */
  const int32_t *shift;    /* [8] */
  const int8_t *h0;        /* [batches][n_cell] initial output state */
  const int16_t *c0;       /* [batches][n_cell] initial cell state */
  /* EDGEQ_LSTM_TFLM only (0 / NULL otherwise): */
  int32_t fc_mult, fc_shift;   /* f * c into the cell state's scale */
  int32_t ig_mult, ig_shift;   /* i * g into the cell state's scale */
  int32_t tanh_mult;           /* the cell state's tanh input multiplier / right shift */
  int32_t tanh_shift;
  const uint16_t *sigmoid_table; /* [256] sigmoid(i / 24) in Q0.16 */
} edgeq_lstm_s8_params;

/* Scratch: the int16 cell state of one sequence (the generated model.c checks the planned bytes). */
#define edgeq_lstm_s8_scratch_bytes(n_cell) ((size_t)(n_cell) * sizeof(int16_t))

void edgeq_lstm_s8(const edgeq_lstm_s8_params *p, const int8_t *in, int8_t *out, void *scratch);

/* gemmlowp's int16 fixed-point logistic (input Q3.12) and tanh (input Q(int_bits).(15 - int_bits),
 * int_bits 0..6), outputs Q0.15: the functions LiteRT's PortableApplySigmoid / PortableApplyTanh use. */
int16_t edgeq_lstm_sigmoid_q3(int16_t x);
int16_t edgeq_lstm_tanh(int16_t x, int32_t int_bits);

#endif
