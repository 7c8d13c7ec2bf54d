"""Keras 3 SimpleRNN and Bidirectional layers (LSTM, GRU and SimpleRNN inside; concat, sum, ave, mul) as
edgeq.frontend.rnn.rebuild_rnn_model converts them, against LiteRT and TFLM byte for byte (the LSTM kernel
in its LiteRT or TFLM mode, see docs/rnn.md).

SimpleRNN: the unrolled graph (UNPACK, FULLY_CONNECTED, ADD, TANH, PACK); LiteRT's fused
UNIDIRECTIONAL_SEQUENCE_RNN has no full-int8 kernel. Bidirectional: the two directions, the backward one on
the time-reversed input (STRIDED_SLICE of stride -1, no REVERSE_V2), merged."""

import keras
import numpy as np
import pytest

from harness import assert_bit_exact, int8_tflite

from edgeq.frontend.rnn import rebuild_rnn_model
from edgeq.frontend.tflite.reader import read_tflite

L = keras.layers


def _model(make, steps=6, features=4, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((steps, features), batch_size=1)
    m = keras.Model(inp, make()(inp))
    rng = np.random.default_rng(seed)
    m.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in m.get_weights()])
    return m


def _check(model, expect, roundings=("litert", "tflm"), n=12):
    rebuilt = rebuild_rnn_model(model)
    x = np.random.default_rng(9).standard_normal((1, *model.inputs[0].shape[1:])).astype(np.float32)
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)
    tfl = int8_tflite(rebuilt)
    kinds = {op.kind for op in read_tflite(tfl).ops}
    assert not kinds & {"WHILE", "REVERSE_V2"}, kinds
    return assert_bit_exact(rebuilt, expect_ops=expect, model_bytes=tfl, roundings=roundings, n=n)


@pytest.mark.parametrize("units,sequences", [(1, True), (5, False), (16, True)])
def test_simple_rnn(units, sequences):
    _check(_model(lambda: L.SimpleRNN(units, return_sequences=sequences)),
           {"UNPACK", "FULLY_CONNECTED", "TANH"} | ({"PACK"} if sequences else set()))


def test_simple_rnn_relu_backwards():
    _check(_model(lambda: L.SimpleRNN(6, activation="relu", go_backwards=True, return_sequences=True), seed=1),
           {"UNPACK", "FULLY_CONNECTED", "STRIDED_SLICE"})


@pytest.mark.parametrize("merge,sequences", [("concat", True), ("sum", False), ("ave", True), ("mul", False)])
def test_bidirectional_lstm(merge, sequences):
    tfl = _check(_model(lambda: L.Bidirectional(L.LSTM(5, return_sequences=sequences), merge_mode=merge)),
                 {"UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE"})
    assert [op.kind for op in read_tflite(tfl).ops].count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2


@pytest.mark.parametrize("inner", ["GRU", "SimpleRNN"])
def test_bidirectional_unrolled(inner):
    layer = getattr(L, inner)
    _check(_model(lambda: L.Bidirectional(layer(4, return_sequences=True)), steps=5, seed=2),
           {"UNPACK", "FULLY_CONNECTED", "PACK", "STRIDED_SLICE", "CONCATENATION"})


def test_stacked_mixed_layers():
    """Bidirectional LSTM -> GRU -> SimpleRNN -> Dense, every kind in one model."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 6), batch_size=1)
    x = L.Bidirectional(L.LSTM(6, return_sequences=True))(inp)
    x = L.GRU(5, return_sequences=True)(x)
    x = L.SimpleRNN(4)(x)
    m = keras.Model(inp, L.Dense(3)(x))
    rng = np.random.default_rng(3)
    m.set_weights([(rng.standard_normal(w.shape) * 0.4).astype(np.float32) for w in m.get_weights()])
    _check(m, {"UNIDIRECTIONAL_SEQUENCE_LSTM", "UNPACK", "LOGISTIC", "TANH"}, n=8)
