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


# --- int16x8 (--scheme int16x8): every layer unrolled into int16 ops (the converter has no 16x8 fused LSTM) ---

def _int16x8(model):
    from harness_int16 import int16x8_tflite

    return int16x8_tflite(rebuild_rnn_model(model, fused_lstm=False))


def test_the_converter_has_no_int16x8_fused_lstm():
    """Why LSTMs are unrolled for int16x8: the fused op's 16x8 quantization is refused by the converter."""
    from harness_int16 import int16x8_tflite

    from edgeq.errors import EdgeqError

    with pytest.raises(EdgeqError) as e:
        int16x8_tflite(rebuild_rnn_model(_model(lambda: L.LSTM(4))))
    assert "16x8-bit not yet supported for op: 'UNIDIRECTIONAL_SEQUENCE_LSTM'" in str(e.value) + " ".join(e.value.detail)


@pytest.mark.parametrize("make,expect", [
    (lambda: L.GRU(6, return_sequences=True), {"UNPACK", "FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "SUB", "PACK"}),
    (lambda: L.SimpleRNN(5), {"UNPACK", "FULLY_CONNECTED", "TANH"}),
    (lambda: L.LSTM(5, return_sequences=True), {"UNPACK", "FULLY_CONNECTED", "LOGISTIC", "TANH", "MUL", "PACK"}),
    (lambda: L.Bidirectional(L.LSTM(3), merge_mode="sum"), {"UNPACK", "STRIDED_SLICE", "LOGISTIC", "ADD"}),
])
def test_int16x8_unrolled_layers(make, expect):
    from harness_int16 import assert_bit_exact16

    tfl = _int16x8(_model(make, seed=4))
    g = read_tflite(tfl)
    assert {g.tensor(op.outputs[0]).dtype for op in g.ops} == {"int16"}
    assert not {op.kind for op in g.ops} & {"UNIDIRECTIONAL_SEQUENCE_LSTM", "SPLIT", "WHILE"}
    assert_bit_exact16(model_bytes=tfl, expect_ops=expect, n=8)


def test_int16x8_quantize_flow_to_c(tmp_path):
    """quantize --scheme int16x8 of a Keras GRU + LSTM model (the worker's rebuild and 16x8 conversion) ->
    generated C, bit-exact with LiteRT and TFLM."""
    from harness_int16 import assert_bit_exact16

    from edgeq.flows.quantize import quantize_model

    path = tmp_path / "gru16.keras"
    keras.utils.set_random_seed(5)
    inp = keras.Input((7, 3), batch_size=1)
    x = L.GRU(6, bias_initializer="random_normal", return_sequences=True)(inp)
    keras.Model(inp, L.Dense(4)(L.LSTM(5)(x))).save(path)
    res = quantize_model(path, "random", scheme="int16x8", random_count=16)
    assert res.scheme == "int16x8"
    assert_bit_exact16(model_bytes=res.tflite, expect_ops={"UNPACK", "FULLY_CONNECTED", "LOGISTIC"}, n=8)


def test_int16x8_refuses_stateful_layers():
    from edgeq.errors import EdgeqError
    from edgeq.frontend.rnn import check_int16x8

    keras.utils.set_random_seed(0)
    inp = keras.Input((2, 3), batch_size=1)
    m = keras.Model(inp, L.GRU(4, stateful=True, name="sgru")(inp))
    with pytest.raises(EdgeqError) as e:
        check_int16x8(m, "m.keras")
    assert "GRU layer 'sgru': stateful=True" in " ".join(e.value.detail)
    check_int16x8(_model(lambda: L.GRU(4)), "m.keras")  # a stateless GRU passes
