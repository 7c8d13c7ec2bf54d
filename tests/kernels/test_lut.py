"""Float islands folded into tables (edgeq.frontend.islands -> LUT -> edgeq_lut_s8): byte equality with
LiteRT, which runs the island in float32 (DEQUANTIZE -> float ops -> QUANTIZE) in the whole model.

The islands are hand-built (build_tflite): the converter emits them only where it has no int8 kernel (a
Keras 3 LayerNormalization's NEG; see tests/models/test_keras_attention.py for whole models), so the float
chains here cover the shapes an island takes: one op, a chain with scalar constants, a value used twice
(x * sigmoid(x)), several islands in one model, and input / output scales and zero points that put table
entries on rounding ties and at the clamps. Every input value is exercised: the inputs sweep all 256.
"""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as s

from edgeq.frontend.islands import read_model
from edgeq.frontend.tflite.reader import read_tflite
from harness import build_tflite, compare

N = 64  # elements per tensor: 4 samples sweep all 256 int8 values


def _sweep(tfl: bytes) -> list[list[np.ndarray]]:
    g = read_tflite(tfl)
    values = np.arange(-128, 128, dtype=np.int8)
    rng = np.random.default_rng(0)
    samples = [[values[k * N:(k + 1) * N].reshape(g.tensor(t).shape) for t in g.inputs] for k in range(256 // N)]
    return samples + [[rng.integers(-128, 128, g.tensor(t).shape).astype(np.int8) for t in g.inputs]
                      for _ in range(4)]


def island(chain, in_q=(0.05, 3), out_q=(0.04, -5)) -> bytes:
    """int8 [1, N] -> DEQUANTIZE -> ``chain`` -> QUANTIZE -> int8 [1, N]. ``chain``: (kind, operands, options)
    per float op; an operand is "x" (the dequantized input), "prev" (the previous op's output) or a float
    scalar constant."""
    tensors = [dict(shape=[1, N], dtype="int8", scale=in_q[0], zero_point=in_q[1]),
               dict(shape=[1, N], dtype="float32")]
    ops = [("DEQUANTIZE", [0], [1], None)]
    prev = 1
    for kind, operands, options in chain:
        ins = []
        for o in operands:
            if o == "x":
                ins.append(1)
            elif o == "prev":
                ins.append(prev)
            else:
                tensors.append(dict(shape=[], dtype="float32", data=np.float32(o)))
                ins.append(len(tensors) - 1)
        tensors.append(dict(shape=[1, N], dtype="float32"))
        ops.append((kind, ins, [len(tensors) - 1], options))
        prev = len(tensors) - 1
    tensors.append(dict(shape=[1, N], dtype="int8", scale=out_q[0], zero_point=out_q[1]))
    ops.append(("QUANTIZE", [prev], [len(tensors) - 1], None))
    return build_tflite(tensors, ops, [0], [len(tensors) - 1])


def _add():
    return s.AddOptionsT()


def _mul():
    return s.MulOptionsT()


CHAINS = {
    "neg": [("NEG", ["x"], None)],
    "neg_wide_scales": [("NEG", ["x"], None)],
    "affine": [("MUL", ["x", 1.7], _mul()), ("ADD", ["prev", -0.3], _add())],
    "swish": [("LOGISTIC", ["x"], None), ("MUL", ["x", "prev"], _mul())],
    "exp_rsqrt": [("EXP", ["x"], None), ("ADD", ["prev", 1e-3], _add()), ("RSQRT", ["prev"], None)],
    "square_abs_tanh": [("SQUARE", ["x"], None), ("TANH", ["prev"], None), ("ABS", ["prev"], None)],
}
QUANTS = {"neg_wide_scales": ((0.5, -128), (0.002, 127))}


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_island_table_is_bit_exact(name):
    in_q, out_q = QUANTS.get(name, ((0.05, 3), (0.04, -5)))
    tfl = island(CHAINS[name], in_q, out_q)
    g = read_model(tfl)
    assert [op.kind for op in g.ops] == ["LUT"], "the island is one table"
    cmp = compare(tfl, _sweep(tfl), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)


@pytest.mark.parametrize("in_zp,out_zp", [(0, 0), (-128, 127), (127, -128), (17, -3)])
def test_neg_island_across_zero_points(in_zp, out_zp):
    """Output scale below the input's so entries saturate at both ends; ties land where x * s_in / s_out
    is k + 1/2."""
    tfl = island(CHAINS["neg"], (0.02, in_zp), (0.01, out_zp))
    cmp = compare(tfl, _sweep(tfl), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)


def test_tflm_runs_the_same_table():
    tfl = island(CHAINS["affine"])
    cmp = compare(tfl, _sweep(tfl), "tflm")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.first_bad_op)
