"""UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights with an int16 cell state, as LiteRT's
integer 8x8_16 kernel (``lstm_eval.cc: EvalInteger8x8_16``, prepared by
``unidirectional_sequence_lstm.cc: PopulateQuantizedLstmParams8x8_16``). docs/rnn.md has the measurements.

What the reference computes, per step and cell (gates i, f, c, o; inputs 1-4 input weights, 5-8 recurrent
weights, 12-15 gate biases, 18 output state, 19 cell state):

* each gate is two int8 matrix-vector products, each requantized into int16 Q3.12 and added with int16
  saturation: ``sat16(sat16(MBQM(b_in + x.w_in)) + MBQM(b_rec + h.w_rec))``. The effective scales are
  computed in float32 (``w_scale * in_scale / 2^-12``) and split by QuantizeMultiplier; the input zero point
  times the row sums plus the gate bias is ``b_in`` and the output-state zero point times the recurrent
  row sums is ``b_rec`` (``PrecomputeZeroPointTimesWeightWithBias``), both in int32;
* i, f, o = gemmlowp int16 ``logistic`` of Q3.12, g = gemmlowp ``tanh`` of Q3.12 (both Q0.15);
* ``c = sat16(rdbpot(f * c, 15) + rdbpot(i * g, 30 + log2(cell_scale)))`` (the cell scale is a power of
  two, chosen by the converter), clipped by ``cell_clip`` when set;
* ``h = sat8(MBQM(o * tanh_{15 + log2 cell_scale}(c), hidden) + hidden_zp)`` with the hidden scale
  ``2^-15 / s4 * 2^-15`` (float32) and ``s4``, ``hidden_zp`` those of the op's fifth intermediate tensor;
  ``h`` is both the step's output row and the next step's output state.

The output and cell states are variable tensors: LiteRT keeps them across invocations. edgeq runs the
Keras model's semantics instead, every inference from the reset state (output zero point, zero cell), which
the reader gives as the state tensors' constant data; the references reset them before each run. MBQM rounds
twice (gemmlowp) in LiteRT's LSTM, unlike its FULLY_CONNECTED (measured: single rounding mismatches by one
on a few percent of the outputs of a 49-step LSTM(32)). Peephole, projection, CIFG and layer-norm LSTMs
(which the converter does not emit for Keras LSTM layers) are refused.

TFLM (rounding "tflm", ``lstm_eval.h: LstmStep`` prepared by ``lstm_eval_common.cc:
PrepareGateParametersInteger``) computes the same gate pre-activations (its per-gate FullyConnected has the
same multipliers: a float32 scale product divided by the exact 2^-12), then differs in three places, each
an op of its own with its own rounding:

* i, f, o, g: ``reference_integer_ops::Logistic / Tanh`` on int16 (the sigmoid table with linear
  interpolation, input multiplier 3), not gemmlowp's polynomial;
* the cell update is two ``MulElementwise`` (``f * c`` by QuantizeMultiplier(2^-15) and ``i * g`` by
  QuantizeMultiplier(2^-30 / cell_scale), in double, each double-rounded and saturated to int16), then a
  saturating add;
* ``h = MulElementwise(tanh(c), o)`` with QuantizeMultiplier(2^-15 * 2^-15 / hidden_state_scale) in double
  on the output-state tensor's scale and zero point, tanh(c) by the table with left shift
  ``15 + log2(cell_scale) - 3`` (a right shift with multiplier 3 when negative).
"""

from __future__ import annotations

import math

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need, rounding_flag, scale, zp
from edgeq.passes.lower.int16.softmax import SIGMOID_TABLE_UINT16
from edgeq.passes.lower.quantmath import quantize_multiplier
from edgeq.passes.lower.registry import LowerCtx, lowering

_IN_W, _REC_W, _BIAS = (1, 2, 3, 4), (5, 6, 7, 8), (12, 13, 14, 15)
_PEEPHOLE, _PROJECTION, _LAYER_NORM = (9, 10, 11), (16, 17), (20, 21, 22, 23)
_OUTPUT_STATE, _CELL_STATE = 18, 19


def _wrap_i32(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _present(op: Op, i: int) -> bool:
    return len(op.inputs) > i and op.inputs[i] >= 0


def _effective(*factors: float, divide: float) -> tuple[int, int]:
    """QuantizeMultiplier of a float32 product / quotient, as Prepare computes the effective scales."""
    v = np.float32(1.0)
    for f in factors:
        v = np.float32(v * np.float32(f))
    return quantize_multiplier(float(np.float32(v / np.float32(divide))))


@lowering("UNIDIRECTIONAL_SEQUENCE_LSTM")
def lower_lstm(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    tflm = ctx.rounding == "tflm"
    need(len(op.inputs) >= 20, f"{len(op.inputs)} inputs, not the 20 or 24 of a full LSTM")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(all(_present(op, i) for i in (1, 5, 12)), "CIFG LSTM (no input gate)")
    need(not any(_present(op, i) for i in _PEEPHOLE), "peephole LSTM")
    need(not any(_present(op, i) for i in _PROJECTION), "projection LSTM")
    need(not any(_present(op, i) for i in _LAYER_NORM), "layer-norm LSTM")
    need(op.attrs.get("fused_activation_function") == "TANH",
         f"cell activation {op.attrs.get('fused_activation_function')}, not TANH")
    need(op.attrs.get("proj_clip", 0.0) == 0.0, "projection clip without projection")
    w_in = [g.tensor(op.inputs[i]) for i in _IN_W]
    w_rec = [g.tensor(op.inputs[i]) for i in _REC_W]
    biases = [g.tensor(op.inputs[i]) for i in _BIAS]
    h0, c0 = g.tensor(op.inputs[_OUTPUT_STATE]), g.tensor(op.inputs[_CELL_STATE])
    for w in w_in + w_rec:
        expect_dtype(w, "int8")
        need(w.is_const and len(w.shape) == 2, f"weights '{w.name}' are not a constant matrix")
        need(w.quant is not None and len(w.quant.scale) == 1 and w.quant.zero_point[0] == 0,
             f"weights '{w.name}' are not per-tensor symmetric")
    for b in biases:
        expect_dtype(b, "int32")
        need(b.is_const, f"bias '{b.name}' is not constant")
    expect_dtype(h0, "int8")
    expect_dtype(c0, "int16")
    need(h0.is_const and c0.is_const, "the state tensors have no initial value")
    need(len(x.shape) == 3, f"input of shape {x.shape} is not [batch, time, features]")
    n_cell, n_input = w_in[0].shape
    need(all(w.shape == (n_cell, n_input) for w in w_in), "input weights of different shapes")
    need(all(w.shape == (n_cell, n_cell) for w in w_rec), "recurrent weights are not [cells, cells]")
    need(x.shape[2] == n_input, f"input has {x.shape[2]} features, weights {n_input}")
    time_major = bool(op.attrs.get("time_major", False))
    steps, batches = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    need(y.numel == batches * steps * n_cell, f"output {y.shape} is not one row of {n_cell} per step")
    need(h0.numel == batches * n_cell and c0.numel == batches * n_cell, "state tensors of the wrong size")

    inter = op.attrs.get("intermediates", ())
    need(len(inter) == 5 and inter[4] >= 0, "no effective-hidden-scale intermediate tensor")
    hidden = g.tensor(inter[4])
    need(hidden.quant is not None, "the hidden intermediate tensor has no quantization")
    log2_cell = math.log2(scale(c0))
    need(log2_cell == round(log2_cell), f"cell state scale {scale(c0)} is not a power of two")
    cell_scale = int(round(log2_cell))
    if not tflm:
        need(0 <= 15 + cell_scale <= 6, f"cell state scale 2^{cell_scale} outside LiteRT's tanh range 2^-15..2^-9")
    clip = float(op.attrs.get("cell_clip", 0.0))
    if tflm:  # CreateLstmCellStateInfo: double quotient, cast to int16
        cell_clip = int(min(max(float(np.float32(clip)) / float(scale(c0)), -32768.0), 32767.0)) if clip > 0 else 0
    else:
        cell_clip = int(np.float32(min(max(np.float32(clip) / np.float32(scale(c0)), -32768.0), 32767.0))) if clip > 0 else 0

    q312 = 2.0 ** -12
    mults, shifts = [], []
    for wi, wr in zip(w_in, w_rec):
        for pair in (_effective(scale(wi), scale(x), divide=q312), _effective(scale(wr), scale(h0), divide=q312)):
            mults.append(pair[0])
            shifts.append(pair[1])
    if tflm:  # CreateInterGateMulParams(2^-15, 2^-15, hidden state scale), double, the state's zero point
        hidden_mult, hidden_shift = quantize_multiplier(2.0 ** -30 / float(np.float32(scale(h0))))
        hidden_zp = zp(h0)
        cell_mul = [quantize_multiplier(2.0 ** -15), quantize_multiplier(2.0 ** -30 / scale(c0))]
        tanh_shift = 15 + cell_scale - 3  # lstm_internal::Tanh
        tanh_mult, tanh_shift = (3 << tanh_shift, 0) if tanh_shift >= 0 else (3, -tanh_shift)
        table = arr(op, "sigmoid", np.array(SIGMOID_TABLE_UINT16, np.uint16), "uint16_t")
    else:
        q15 = np.float32(2.0 ** -15)  # effective_hidden_scale = 2^-15 / s4 * 2^-15, in float32
        hidden_mult, hidden_shift = quantize_multiplier(float(np.float32(q15 / np.float32(scale(hidden))) * q15))
        hidden_zp = hidden.quant.zero_point[0]
        cell_mul, tanh_mult, tanh_shift, table = [(0, 0), (0, 0)], 0, 0, None
    win = np.stack([np.asarray(w.data, np.int8) for w in w_in])
    wrec = np.stack([np.asarray(w.data, np.int8) for w in w_rec])
    bias_in = _wrap_i32(np.stack([np.asarray(b.data, np.int64) for b in biases])
                        - zp(x) * win.astype(np.int64).sum(axis=2))
    bias_rec = _wrap_i32(-zp(h0) * wrec.astype(np.int64).sum(axis=2))
    return Lowered(
        kernel="edgeq_lstm_s8",
        struct="edgeq_lstm_s8_params",
        source="lstm",
        fields=(
            ("mode", 1 if tflm else 0), ("batches", batches), ("time_steps", steps),
            ("batch_stride", 1 if time_major else steps), ("step_stride", batches if time_major else 1),
            ("n_input", n_input), ("n_cell", n_cell),
            ("cell_shift", 30 + cell_scale), ("cell_int_bits", 15 + cell_scale), ("cell_clip", cell_clip),
            ("hidden_mult", hidden_mult), ("hidden_shift", hidden_shift), ("hidden_zp", hidden_zp),
            ("rounding", rounding_flag(ctx, litert_single=False)),
            ("w_in", arr(op, "w_in", win.reshape(-1), "int8_t")),
            ("w_rec", arr(op, "w_rec", wrec.reshape(-1), "int8_t")),
            ("bias_in", arr(op, "bias_in", bias_in.reshape(-1), "int32_t")),
            ("bias_rec", arr(op, "bias_rec", bias_rec.reshape(-1), "int32_t")),
            ("mult", arr(op, "mult", np.array(mults, np.int32), "int32_t")),
            ("shift", arr(op, "shift", np.array(shifts, np.int32), "int32_t")),
            ("h0", arr(op, "h0", np.asarray(h0.data, np.int8).reshape(-1), "int8_t")),
            ("c0", arr(op, "c0", np.asarray(c0.data, np.int16).reshape(-1), "int16_t")),
            ("fc_mult", cell_mul[0][0]), ("fc_shift", cell_mul[0][1]),
            ("ig_mult", cell_mul[1][0]), ("ig_shift", cell_mul[1][1]),
            ("tanh_mult", tanh_mult), ("tanh_shift", tanh_shift),
            ("sigmoid_table", table),
        ),
        args=(x.id, y.id),
        scratch_bytes=2 * n_cell,
    )
