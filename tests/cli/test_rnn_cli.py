"""Recurrent Keras 3 models through the commands as a user types them: an LSTM classifier quantizes to
one fused int8 UNIDIRECTIONAL_SEQUENCE_LSTM per layer (no crash, no per-step weight copies), a GRU to its
unrolled graph, each with generated C bit-exact on the host against LiteRT; what is not supported yet
ends in one clear error."""

import keras
import pytest

from edgeq.cli.main import main
from edgeq.frontend.tflite.reader import read_tflite


def _save(tmp_path, layers, name, batch_size=None):
    keras.utils.set_random_seed(3)
    inp = keras.Input((20, 6), batch_size=batch_size)
    x = inp
    for layer in layers:
        x = layer(x)
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax")(x), name=name)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return path


def test_quantize_and_validate_a_stacked_lstm_with_a_conv1d_front_end(tmp_path, capsys):
    model = _save(tmp_path, [keras.layers.Conv1D(8, 3, activation="relu"),
                             keras.layers.LSTM(12, return_sequences=True), keras.layers.LSTM(10)], "lstm2")
    out = tmp_path / "lstm2_int8.tflite"
    assert main(["quantize", str(model), "--calib", "random", "--random-range=-4,4", "-o", str(out)]) == 0
    ops = [op.kind for op in read_tflite(out.read_bytes()).ops]
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2 and "WHILE" not in ops, ops
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in capsys.readouterr().out
    assert main(["validate", str(out), "--c-host", "--samples", "12"]) == 0
    assert "bit-exact: 12/12 samples" in capsys.readouterr().out


def test_quantize_and_validate_a_gru(tmp_path, capsys):
    model = _save(tmp_path, [keras.layers.GRU(8)], "gru")
    out = tmp_path / "gru_int8.tflite"
    assert main(["quantize", str(model), "--calib", "random", "--random-range=-4,4", "-o", str(out)]) == 0
    assert main(["validate", str(out), "--c-host", "--samples", "8"]) == 0
    assert "bit-exact: 8/8 samples" in capsys.readouterr().out


@pytest.mark.parametrize("layer,scheme,message,batch", [
    (keras.layers.SimpleRNN(8, stateful=True, go_backwards=True), "int8", "go_backwards=True", 1),
    (keras.layers.GRU(8, stateful=True), "int16x8", "stateful=True (its fed-back state would be int16", 1),
])
def test_what_is_not_supported_yet_is_one_clear_error(tmp_path, capsys, layer, scheme, message, batch):
    model = _save(tmp_path, [layer], f"rnn_{scheme}", batch_size=batch)
    code = main(["quantize", str(model), "--calib", "random", "--scheme", scheme, "-o", str(tmp_path / "o.tflite")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o.tflite").exists()
