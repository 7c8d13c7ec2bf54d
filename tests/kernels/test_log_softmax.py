"""LOG_SOFTMAX (firmware/kernels/{,float32_}log_softmax.c): int8 byte for byte against LiteRT's reference kernel
and TFLM (Keras ``activation="log_softmax"`` after a Dense, and a bare one over several depths and input
scales: the fixed-point exp, the TFLite log and the reverse scaling with its rounding), float32 within
edgeq.quality.compare.FLOAT_RTOL."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness import assert_bit_exact
from harness_ops import check, inputs_for
from edgeq.frontend.tflite.reader import read_tflite


def _dense_model(units: int = 10):
    keras.utils.set_random_seed(0)
    inp = keras.Input((12,))
    return keras.Model(inp, keras.layers.Dense(units, activation="log_softmax")(inp))


def _bare(shape):
    inp = keras.Input(shape)
    return keras.Model(inp, keras.layers.Activation("log_softmax")(inp))


def test_dense_log_softmax_int8():
    assert_bit_exact(_dense_model(), expect_ops={"LOG_SOFTMAX"}, n=40)


@pytest.mark.parametrize("shape,scale", [((7,), 1.0), ((3, 16), 4.0), ((2, 3, 40), 0.2), ((1, 300), 10.0)])
def test_bare_log_softmax_int8(shape, scale):
    """Input ranges from about +-1 to +-40 give input scales across two orders of magnitude."""
    assert_bit_exact(_bare(shape), expect_ops={"LOG_SOFTMAX"}, scale=scale, n=30)


@pytest.mark.parametrize("build", [_dense_model, lambda: _bare((3, 9))])
def test_float32_within_tolerance(build):
    import tensorflow as tf

    tfl = tf.lite.TFLiteConverter.from_keras_model(build()).convert()
    assert "LOG_SOFTMAX" in {op.kind for op in read_tflite(tfl).ops}
    check(tfl, inputs_for(tfl, np.random.default_rng(0)), exact=False)
