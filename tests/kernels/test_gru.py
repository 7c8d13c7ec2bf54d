"""Keras 3 GRU layers (both reset_after settings, return_sequences both ways, stacked, backwards) as the
unrolled int8 graph the converter gives for GRU(unroll=True) (UNPACK, FULLY_CONNECTED, LOGISTIC, TANH,
SUB, MUL, ADD, PACK; SPLIT and STRIDED_SLICE with Keras' default implementation 2), against LiteRT and
TFLM byte for byte.

edgeq.frontend.rnn.rebuild_rnn_model unrolls the layer (the converter segfaults on the rolled one) with one
matmul per gate (implementation 1); a GRU the user unrolled and converted himself has the SPLITs. Every step
reads the same weight tensors, and the generated C stores each distinct constant array once."""

import keras
import numpy as np
import pytest

from harness import assert_bit_exact, int8_tflite

from edgeq.api import lower_tflite
from edgeq.codegen.emit import render_context
from edgeq.frontend.rnn import rebuild_rnn_model
from edgeq.frontend.tflite.reader import read_tflite

UNROLLED = {"UNPACK", "FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "ADD"}


def _random_weights(model, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) * scale).astype(np.float32) for w in model.get_weights()])
    return model


def _gru_model(steps, features, units, sequences, seed=0, **kw):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((steps, features), batch_size=1)
    out = keras.layers.GRU(units, return_sequences=sequences, **kw)(inp)
    return _random_weights(keras.Model(inp, out), seed)  # non-zero biases: the bias adds are converted too


def _check(model, expect=UNROLLED, n=12, calib_scale=1.0):
    rebuilt = rebuild_rnn_model(model)
    tfl = int8_tflite(rebuilt, scale=calib_scale)
    return assert_bit_exact(rebuilt, expect_ops=expect, model_bytes=tfl, n=n)


@pytest.mark.parametrize("steps,features,units,sequences,reset_after", [
    (1, 1, 1, True, True), (3, 5, 7, True, True), (8, 13, 6, False, True), (5, 4, 9, True, False),
    (10, 3, 4, False, False), (2, 20, 3, True, False),
])
def test_gru_shapes(steps, features, units, sequences, reset_after):
    _check(_gru_model(steps, features, units, sequences, reset_after=reset_after))


@pytest.mark.parametrize("sequences", [True, False])
def test_gru_unrolled_by_the_user_keeps_its_splits(sequences):
    """GRU(unroll=True) with Keras' default implementation converted directly (a .tflite a user brings):
    per step one input and one recurrent FULLY_CONNECTED, SPLIT into the gates, STRIDED_SLICE."""
    m = _gru_model(7, 5, 6, sequences, seed=6, unroll=True)
    tfl = assert_bit_exact(m, expect_ops=UNROLLED | {"SPLIT", "STRIDED_SLICE"}, n=12)
    assert [op.kind for op in read_tflite(tfl).ops].count("SPLIT") == 7


def test_gru_saturated_calibration():
    """Calibration on inputs far smaller than those fed: gates pinned at the ends of their int8 ranges."""
    _check(_gru_model(6, 4, 5, True, seed=3), calib_scale=0.05)


def test_gru_go_backwards_without_bias():
    _check(_gru_model(6, 3, 4, True, seed=4, go_backwards=True, use_bias=False))


def test_stacked_gru_behind_conv1d_stores_weights_once():
    keras.utils.set_random_seed(1)
    inp = keras.Input((20, 10), batch_size=1)
    x = keras.layers.Conv1D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.GRU(12, return_sequences=True)(x)
    x = keras.layers.GRU(6)(x)
    model = _random_weights(keras.Model(inp, keras.layers.Dense(4)(x)), 5)
    tfl = _check(model, n=8)
    # every step's FULLY_CONNECTED lowers to its own packed weights; the C holds each matrix once (the
    # per-step requantization multipliers and activation tables differ with each step's scales)
    g = lower_tflite(tfl)
    ctx = render_context(g)
    n_weights = sum(int(np.prod(w.shape)) for w in model.get_weights())
    packed = [a for a in ctx["arrays"] if a["name"].endswith("_wpacked")]
    fcs = [op for op in g.ops if op.kind == "FULLY_CONNECTED"]
    assert sum(a["bytes"] for a in packed) <= n_weights + 4 * len(packed), (packed, n_weights)
    assert len(packed) < len(fcs) / 4, (len(packed), len(fcs))


def test_rebuilt_gru_computes_the_keras_gru():
    for reset_after in (True, False):
        m = _gru_model(7, 3, 5, True, seed=2, reset_after=reset_after)
        x = np.random.default_rng(3).standard_normal((1, 7, 3)).astype(np.float32)
        np.testing.assert_allclose(np.asarray(rebuild_rnn_model(m)(x)), np.asarray(m(x)), rtol=1e-5, atol=1e-6)
        assert "WHILE" not in [op.kind for op in read_tflite(int8_tflite(rebuild_rnn_model(m), n_calib=4)).ops]
