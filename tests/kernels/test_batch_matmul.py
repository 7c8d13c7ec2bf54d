"""BATCH_MATMUL against LiteRT's reference kernels and TFLM: int8 with both operands variable (attention's
scores and context) and zero points on both sides, int16 (16x8), float32 (byte equality: the kernel adds
in the reference's order); adj_x / adj_y, broadcasting of batch dimensions, ranks 2..4."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from harness import compare, compile_host, random_inputs, tf_function_tflite
from harness_int16 import tf_function_int16x8

# name -> (lhs shape, rhs shape, adj_x, adj_y), shapes as the operands are stored
CASES = {
    "2d": ((5, 7), (7, 3), False, False),
    "3d": ((2, 4, 6), (2, 6, 5), False, False),
    "adj_y": ((1, 2, 16, 8), (1, 2, 16, 8), False, True),
    "adj_x": ((2, 9, 4), (2, 9, 3), True, False),
    "adj_both": ((3, 5, 4), (3, 6, 5), True, True),
    "broadcast_lhs": ((1, 4, 6), (3, 6, 2), False, False),
    "broadcast_rhs": ((2, 3, 4, 6), (1, 3, 6, 5), False, False),
    "broadcast_both": ((2, 1, 4, 6), (1, 3, 6, 5), False, False),
    "rank_mix": ((4, 6), (3, 6, 2), False, False),
    "depth_1": ((2, 3, 1), (2, 1, 4), False, False),
}


def _function(lhs_shape, rhs_shape, adj_x, adj_y):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec(lhs_shape, tf.float32), tf.TensorSpec(rhs_shape, tf.float32)])
    def f(a, b):
        return tf.linalg.matmul(a, b, adjoint_a=adj_x, adjoint_b=adj_y)

    return f


def _calib(lhs_shape, rhs_shape, seed: int):
    """Offset lhs values (a nonzero int8 zero point) and a narrower rhs."""
    rng = np.random.default_rng(seed)
    return [[(rng.standard_normal(lhs_shape) + 0.7).astype(np.float32),
             (rng.standard_normal(rhs_shape) * 0.5 - 0.2).astype(np.float32)] for _ in range(16)]


def _the_op(tfl: bytes, dtype: str):
    g = read_tflite(tfl)
    (op,) = [op for op in g.ops if op.kind == "BATCH_MATMUL"]
    assert {g.tensor(t).dtype for t in (*op.inputs, *op.outputs)} == {dtype}
    return g, op


@pytest.mark.parametrize("name", sorted(CASES))
def test_int8(name):
    lhs, rhs, adj_x, adj_y = CASES[name]
    tfl = tf_function_tflite(_function(*CASES[name]), _calib(lhs, rhs, seed=len(name)))
    g, op = _the_op(tfl, "int8")
    assert (op.attrs["adj_x"], op.attrs["adj_y"]) == (adj_x, adj_y)
    assert g.tensor(op.inputs[0]).quant.zero_point[0] != 0 and g.tensor(op.inputs[1]).quant.zero_point[0] != 0
    inputs = random_inputs(tfl, 12)
    for rounding in ("litert", "tflm"):
        cmp = compare(tfl, inputs, rounding)
        assert cmp.bit_exact, (rounding, cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)


@pytest.mark.parametrize("name", ["3d", "adj_y", "adj_both", "broadcast_both"])
def test_int16(name):
    lhs, rhs, _, _ = CASES[name]
    tfl = tf_function_int16x8(_function(*CASES[name]), _calib(lhs, rhs, seed=1))
    _the_op(tfl, "int16")
    cmp = compare(tfl, random_inputs(tfl, 12), "litert")
    assert cmp.bit_exact, (cmp.mismatched_bytes, cmp.max_abs_diff, cmp.first_bad_op)


@pytest.mark.parametrize("name", ["2d", "adj_x", "adj_both", "broadcast_rhs", "rank_mix"])
def test_float32_bytes(name):
    import tensorflow as tf

    from edgeq.quality.references import LiteRT

    f = _function(*CASES[name])
    tfl = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()
    _the_op(tfl, "float32")
    _, host = compile_host(tfl, "litert")
    ref = LiteRT(tfl)
    rng = np.random.default_rng(3)
    for _ in range(8):
        x = [(rng.standard_normal(s) * 10.0 ** rng.integers(-3, 4)).astype(np.float32) for s in CASES[name][:2]]
        (ours,), (want,) = host.run(x), ref.run(x)
        assert np.asarray(ours).tobytes() == np.asarray(want).tobytes()


def test_int8_constant_rhs():
    """A constant rhs (x @ W with a rank-3 W) stays a BATCH_MATMUL with a per-tensor int8 rhs and its own zero
    point (LiteRT transposes it once; the arithmetic is the same)."""
    import tensorflow as tf

    w = np.random.default_rng(0).standard_normal((3, 6, 5)).astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((3, 4, 6), tf.float32)])
    def f(a):
        return tf.linalg.matmul(a, w)

    tfl = tf_function_tflite(f, [[lhs] for lhs, _ in _calib((3, 4, 6), (1,), seed=2)])
    g, op = _the_op(tfl, "int8")
    assert g.tensor(op.inputs[1]).is_const
    for rounding in ("litert", "tflm"):
        cmp = compare(tfl, random_inputs(tfl, 12), rounding)
        assert cmp.bit_exact, (rounding, cmp.mismatched_bytes, cmp.first_bad_op)
