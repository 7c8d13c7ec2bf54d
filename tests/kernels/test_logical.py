"""LOGICAL_AND, LOGICAL_OR (broadcasting) and LOGICAL_NOT on bool tensors (firmware/kernels/logical.c),
between int8 comparisons, bit-exact with LiteRT and TFLM.

The models compare int8 inputs (GREATER / LESS, int8 -> bool), combine the bools, and CAST them to float and
QUANTIZE back to int8, so every output byte depends on the logical op's result; the shapes cover equal
shapes and broadcasting of either operand along one or several axes.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from harness import assert_bit_exact, tf_function_tflite
from edgeq.frontend.tflite.reader import read_tflite


def _model(fn, shapes) -> bytes:
    f = tf.function(fn, input_signature=[tf.TensorSpec(s, tf.float32) for s in shapes])
    rng = np.random.default_rng(0)
    return tf_function_tflite(f, [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(16)])


SHAPES = [((1, 4, 8), (1, 4, 8)), ((1, 4, 8), (1, 1, 8)), ((2, 1, 5), (1, 3, 1)), ((1, 6), (1, 1)),
          ((3, 2, 4, 5), (3, 1, 4, 1))]


@pytest.mark.parametrize("kind", ["LOGICAL_AND", "LOGICAL_OR"])
@pytest.mark.parametrize("s1,s2", SHAPES, ids=[f"{a}-{b}" for a, b in SHAPES])
def test_and_or(kind, s1, s2):
    op = tf.logical_and if kind == "LOGICAL_AND" else tf.logical_or
    tfl = _model(lambda a, b: tf.cast(op(a > 0.2, b < -0.1), tf.float32) * a, [s1, s2])
    assert_bit_exact(None, model_bytes=tfl, expect_ops={kind, "GREATER", "LESS"}, n=12)


@pytest.mark.parametrize("shape", [(1, 8), (2, 3, 5), (1, 4, 4, 3)])
def test_not(shape):
    # (the converter folds NOT of a comparison into the opposite comparison: negate a conjunction)
    tfl = _model(lambda a: tf.cast(tf.logical_not(tf.logical_and(a > 0.3, a < 1.2)), tf.float32) * a, [shape])
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"LOGICAL_NOT", "LOGICAL_AND"}, n=12)


def test_and_or_not_together():
    tfl = _model(lambda a, b: tf.cast(tf.logical_or(tf.logical_not(tf.logical_and(a > 0, b > 0)), a < -0.5),
                                      tf.float32) - b, [(1, 5, 7), (1, 5, 7)])
    kinds = {op.kind for op in read_tflite(tfl).ops}
    assert {"LOGICAL_AND", "LOGICAL_OR", "LOGICAL_NOT"} <= kinds, kinds
    assert_bit_exact(None, model_bytes=tfl, n=12)
