"""edgeq.frontend.rnn: which models need the RNN conversion, what it refuses, and the child process that
keeps a converter crash out of edgeq's own process."""

import stat
import sys

import keras
import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.frontend import rnn
from edgeq.frontend.data import Samples
from edgeq.frontend.load import LoadedModel


def _loaded(model, tmp_path):
    shape = tuple(model.inputs[0].shape[1:])
    return LoadedModel(tmp_path / f"{model.name}.keras", "keras", model, None, None, [shape],
                       [np.dtype("float32")], [model.inputs[0].name])


def _calib(shape, n=4):
    return Samples("test", [np.random.default_rng(0).standard_normal((n, *shape)).astype(np.float32)])


def _model(layer, steps=5, features=3):
    inp = keras.Input((steps, features), batch_size=1)
    return keras.Model(inp, keras.layers.Dense(2)(layer(inp)))


def test_recurrent_layers_are_found(tmp_path):
    m = _model(keras.layers.Bidirectional(keras.layers.LSTM(4)))
    assert rnn.recurrent_layers(m) == ["Bidirectional", "LSTM", "LSTM"]
    assert rnn.needs_rnn_conversion(_loaded(m, tmp_path))
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert not rnn.needs_rnn_conversion(_loaded(plain, tmp_path))


@pytest.mark.parametrize("layer,match", [
    (keras.layers.RNN(keras.layers.SimpleRNNCell(4)), "RNN layers are not supported yet"),
    (keras.layers.LSTM(4, activation="relu"), "activation 'relu'"),
    (keras.layers.GRU(4, stateful=True, go_backwards=True), "go_backwards=True"),
    (keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode=None), "merge_mode=None"),
])
def test_unsupported_recurrent_layers_are_named(layer, match):
    def both(x):  # merge_mode=None gives the two directions as two tensors
        y = layer(x)
        return keras.layers.Concatenate()(y) if isinstance(y, (list, tuple)) else y

    with pytest.raises(EdgeqError) as e:
        rnn.rebuild_rnn_model(_model(both))
    assert match in e.value.format()


@pytest.mark.parametrize("layer", [
    keras.layers.GRU(4, return_sequences=True), keras.layers.GRU(4, reset_after=False, go_backwards=True),
    keras.layers.SimpleRNN(4), keras.layers.LSTM(4, go_backwards=True, return_sequences=True),
    keras.layers.Bidirectional(keras.layers.LSTM(4)),
])
def test_rebuilt_model_computes_the_original(layer):
    m = _model(layer)
    rng = np.random.default_rng(1)
    m.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in m.get_weights()])
    x = rng.standard_normal((1, 5, 3)).astype(np.float32)
    rebuilt = rnn.rebuild_rnn_model(m)
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(m(x)), rtol=1e-5, atol=1e-6)
    assert not set(rnn.recurrent_layers(rebuilt)) - {"GRU", "SimpleRNN"}  # LSTMs fused, wrappers split
    assert all(layer.get_config().get("unroll") for layer in rnn._layers(rebuilt)
               if type(layer).__name__ in ("GRU", "SimpleRNN"))


def test_child_error_comes_back_as_the_same_edgeq_error(tmp_path):
    m = _model(keras.layers.RNN(keras.layers.SimpleRNNCell(4)))
    with pytest.raises(EdgeqError, match="RNN layers are not supported yet"):
        rnn.quantize_rnn(_loaded(m, tmp_path), _calib((5, 3)))


def test_converter_crash_does_not_kill_edgeq(tmp_path, monkeypatch):
    """A worker that dies of SIGSEGV (as the converter does on a Keras 3 LSTM) is an EdgeqError here."""
    from edgeq import isolation

    crash = tmp_path / "python"
    crash.write_text("#!/bin/sh\necho 'converting lstm' >&2\nkill -SEGV $$\n")
    crash.chmod(crash.stat().st_mode | stat.S_IEXEC)
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    monkeypatch.setattr(sys, "executable", str(crash))
    with pytest.raises(EdgeqError) as e:
        rnn.quantize_rnn(_loaded(_model(keras.layers.LSTM(4)), tmp_path), _calib((5, 3)))
    text = e.value.format()
    assert "the TFLite converter crashed (SIGSEGV)" in text and "recurrent layers: LSTM" in text
    assert "converting lstm" in text
    isolation.forget_log(e.value)


def test_quantize_rnn_gives_fused_int8_and_float_models(tmp_path):
    from edgeq.frontend.tflite.reader import read_tflite

    keras.utils.set_random_seed(0)
    m = _model(keras.layers.LSTM(6), steps=7, features=4)
    seen = []
    conv = rnn.quantize_rnn(_loaded(m, tmp_path), _calib((7, 4), n=5), progress=lambda d, t: seen.append((d, t)))
    kinds = [op.kind for op in read_tflite(conv.quantized).ops]
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in kinds and "WHILE" not in kinds
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in [op.kind for op in read_tflite(conv.float32).ops]
    assert seen and seen[-1] == (5, 5)


def test_quantize_rnn_unrolls_a_gru(tmp_path):
    from edgeq.frontend.tflite.reader import read_tflite

    keras.utils.set_random_seed(0)
    conv = rnn.quantize_rnn(_loaded(_model(keras.layers.GRU(5), steps=6, features=4), tmp_path), _calib((6, 4)))
    kinds = [op.kind for op in read_tflite(conv.quantized).ops]
    assert "WHILE" not in kinds and "SPLIT" not in kinds and {"UNPACK", "FULLY_CONNECTED", "LOGISTIC"} <= set(kinds)
