"""L2_NORMALIZATION int8 (firmware/kernels/l2_normalization.c) bit-exact with LiteRT and TFLM.

tf.math.l2_normalize over the last axis converts to one L2_NORMALIZATION with output scale 1/128. The
kernel runs GetInvSqrtQuantizedMultiplierExp on each row's sum of squares at run time; the cases cover
depths of 1 to 300 (sums from 0 past 2^22, so the Newton iteration's normalisation shifts both ways), input
scales that make the inputs small or saturate, rows of zeros (acc <= 1) and ranks 2 to 4.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness import assert_bit_exact, tf_function_tflite
from edgeq.frontend.tflite.reader import read_tflite

OPS = {"L2_NORMALIZATION"}


def _model(shape, scale: float, seed: int = 0) -> bytes:
    f = tf.function(lambda x: tf.math.l2_normalize(x, axis=-1), input_signature=[tf.TensorSpec(shape, tf.float32)])
    rng = np.random.default_rng(seed)
    tfl = tf_function_tflite(f, [[(rng.standard_normal(shape) * scale).astype(np.float32)] for _ in range(16)])
    g = read_tflite(tfl)
    (op,) = [op for op in g.ops if op.kind == "L2_NORMALIZATION"]
    q = g.tensor(op.outputs[0]).quant
    assert (q.scale[0], q.zero_point[0]) == (1 / 128, 0)
    return tfl


@pytest.mark.parametrize("shape", [(1, 1), (1, 8), (1, 4, 16), (2, 3, 5), (1, 2, 3, 300), (1, 64), (3, 2)])
@pytest.mark.parametrize("scale", [1.0, 100.0])
def test_l2_normalization(shape, scale):
    assert_bit_exact(None, model_bytes=_model(shape, scale), expect_ops=OPS, n=12)


def test_rows_of_zero_points():
    """A row equal to the zero point (acc = 0) and rows with one step from it (acc = 1)."""
    tfl = _model((1, 4, 6), 1.0)
    g = read_tflite(tfl)
    x = g.tensor(g.inputs[0])
    z = x.quant.zero_point[0]
    v = np.full((1, 4, 6), z, np.int8)
    v[0, 1, 2] = z + 1
    v[0, 2, :] = np.clip(z + np.arange(6) - 3, -128, 127)
    from harness import compare

    for r in ("litert", "tflm"):
        assert compare(tfl, [[v]], r).bit_exact, r


def test_unsupported_output_quantization():
    from edgeq.ir import Graph, Op, Quant, Tensor
    from edgeq.passes.lower import unsupported_ops

    x = Tensor(0, "x", (1, 8), "int8", Quant((0.1,), (3,)))
    for q, ok in ((Quant((1 / 128,), (0,)), True), (Quant((1 / 100,), (0,)), False), (Quant((1 / 128,), (5,)), False)):
        y = Tensor(1, "y", (1, 8), "int8", q)
        bad = unsupported_ops(Graph((x, y), (Op(0, "L2_NORMALIZATION", (0,), (1,), {}),), (0,), (1,)))
        assert (bad == []) == ok, bad
        if not ok:
            assert "1/128" in bad[0][2]
