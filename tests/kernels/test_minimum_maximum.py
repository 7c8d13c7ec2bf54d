"""MINIMUM and MAXIMUM (firmware/kernels/{,int16_,float32_}minimum_maximum.c) byte for byte against LiteRT's
reference kernels and TFLM: Keras ``Maximum`` / ``Minimum`` / ``ReLU(max_value)`` models as the converter
writes them (int8, int16x8, float32), and hand-built one-op models over random broadcast shapes, random
scales and zero points (the references compare stored values whatever the scales), int32 operands and
float NaNs."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest

from harness import assert_bit_exact, compare
from harness_int16 import assert_bit_exact16
from harness_ops import broadcast_shapes, cases, check, inputs_for, one_op, tensor
from edgeq.frontend.tflite.reader import read_tflite

KINDS = ("MINIMUM", "MAXIMUM")


def _two_input_model(layer, shapes):
    keras.utils.set_random_seed(0)
    ins = [keras.Input(s) for s in shapes]
    return keras.Model(ins, layer()(ins))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shapes", [((4, 6), (4, 6)), ((3, 4, 6), (1, 1, 6)), ((2, 1, 5), (1, 3, 1))])
def test_keras_layer_int8(kind, shapes):
    layer = keras.layers.Maximum if kind == "MAXIMUM" else keras.layers.Minimum
    assert_bit_exact(_two_input_model(layer, shapes), expect_ops={kind})


@pytest.mark.parametrize("kind", KINDS)
def test_keras_layer_int16(kind):
    layer = keras.layers.Maximum if kind == "MAXIMUM" else keras.layers.Minimum
    assert_bit_exact16(_two_input_model(layer, ((3, 4, 6), (1, 1, 6))), expect_ops={kind})


def test_relu_max_value_int8():
    """ReLU(max_value) converts to RELU, MINIMUM with a constant, RELU."""
    inp = keras.Input((5, 7))
    assert_bit_exact(keras.Model(inp, keras.layers.ReLU(max_value=1.5)(inp)), expect_ops={"MINIMUM"})


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32"])
@pytest.mark.parametrize("kind", KINDS)
def test_random_broadcasts(kind, dtype):
    """Random broadcast patterns (ranks 1-4, operands of lower rank), random quantization per tensor."""
    from tensorflow.lite.python import schema_py_generated as s

    rng = np.random.default_rng(zlib.crc32(f"{kind}{dtype}".encode()))
    for _ in cases(4):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op(kind, [tensor(s1, dtype, rng), tensor(s2, dtype, rng)], tensor(so, dtype, rng),
                     s.MaximumMinimumOptionsT())
        # TFLM has no int32 MINIMUM / MAXIMUM kernel
        check(tfl, inputs_for(tfl, rng), ("litert",) if dtype == "int32" else ("litert", "tflm"))


def test_float_nan_and_signed_zero():
    from tensorflow.lite.python import schema_py_generated as s

    vals = np.array([np.nan, 1.0, -0.0, 0.0, np.inf, -np.inf], np.float32)
    a, b = np.meshgrid(vals, vals)
    for kind in KINDS:
        tfl = one_op(kind, [tensor(a.shape, "float32"), tensor(a.shape, "float32")], tensor(a.shape, "float32"),
                     s.MaximumMinimumOptionsT())
        cmp = compare(tfl, [[a.astype(np.float32), b.astype(np.float32)]], "litert")
        assert cmp.mismatched_bytes == 0, kind


def test_float32_model():
    import tensorflow as tf

    m = _two_input_model(keras.layers.Maximum, ((3, 4), (1, 4)))
    tfl = tf.lite.TFLiteConverter.from_keras_model(m).convert()
    assert "MAXIMUM" in {op.kind for op in read_tflite(tfl).ops}
    rng = np.random.default_rng(0)
    check(tfl, inputs_for(tfl, rng))
