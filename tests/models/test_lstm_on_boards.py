"""Small keyword spotters (49x10 MFCC -> LSTM(32) or GRU(32) -> Dense(12)) converted through the child-process
converter (edgeq.frontend.rnn.quantize_rnn: one fused LSTM op; the GRU unrolled into 49 steps of ordinary
ops), run on the emulated Cortex-M4 (DSP dot products) and Cortex-M3 (portable C) and checked byte for byte
against LiteRT on the device; and the GRU quantized with --scheme int16x8 (int16 activations) on the M4."""

import keras
import numpy as np
import pytest

from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.frontend.data import Samples
from edgeq.frontend.load import LoadedModel
from edgeq.frontend.rnn import quantize_rnn
from edgeq.frontend.tflite.reader import read_tflite

pytestmark = pytest.mark.slow


def _kws(tmp_path_factory, name, layer, seed=7, scheme="int8"):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((49, 10), batch_size=1)
    model = keras.Model(inp, keras.layers.Dense(12, activation="softmax")(layer(inp)), name=name)
    calib = np.random.default_rng(0).standard_normal((32, 49, 10)).astype(np.float32)
    loaded = LoadedModel(tmp_path_factory.mktemp("m") / f"{name}.keras", "keras", model, None, None,
                         [(49, 10)], [np.dtype("float32")], [model.inputs[0].name])
    conv = quantize_rnn(loaded, Samples("test", [calib]), scheme=scheme)
    path = tmp_path_factory.mktemp("tfl") / f"{name}.tflite"
    path.write_bytes(conv.quantized)
    return path, [op.kind for op in read_tflite(conv.quantized).ops]


@pytest.fixture(scope="module")
def kws_lstm(tmp_path_factory):
    path, ops = _kws(tmp_path_factory, "kws_lstm", keras.layers.LSTM(32))
    assert ops.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 1 and "WHILE" not in ops
    return path


@pytest.fixture(scope="module")
def kws_gru(tmp_path_factory):
    path, ops = _kws(tmp_path_factory, "kws_gru", keras.layers.GRU(32, bias_initializer="random_normal"))
    assert ops.count("UNPACK") == 1 and "WHILE" not in ops and ops.count("FULLY_CONNECTED") > 49
    return path


@pytest.fixture(scope="module")
def kws_gru16(tmp_path_factory):
    path, ops = _kws(tmp_path_factory, "kws_gru16", keras.layers.GRU(32, bias_initializer="random_normal"),
                     scheme="int16x8")
    g = read_tflite(path.read_bytes())
    assert ops.count("UNPACK") == 1 and ops.count("FULLY_CONNECTED") > 49
    assert {g.tensor(op.outputs[0]).dtype for op in g.ops} == {"int16"}
    return path


def _check_on_board(model, board, tmp_path):
    r = convert_and_flash(model, board_name=board, runs=3, samples=6, out_dir=tmp_path)
    rep = r.report
    v = rep["validation"]
    assert v["bit_exact"] and v["mismatched_bytes"] == 0 and v["samples"] >= 6, v
    print(f"\n{board}: {rep['latency']['median']} {rep['latency']['unit']}, arena {rep['memory']['arena_bytes']} B, "
          f"flash {rep['memory']['flash_bytes']} B, weights {rep['memory']['weights_bytes']} B, "
          f"code {rep['memory']['code_bytes']} B, stack {rep['memory']['stack_bytes']} B")


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
def test_kws_lstm_bit_exact_on_emulated_boards(kws_lstm, board, tmp_path):
    _check_on_board(kws_lstm, board, tmp_path)


@pytest.mark.parametrize("board", ["mps2-an386", "mps2-an385"])
def test_kws_gru_bit_exact_on_emulated_boards(kws_gru, board, tmp_path):
    _check_on_board(kws_gru, board, tmp_path)


def test_kws_gru_int16x8_bit_exact_on_mps2_an386(kws_gru16, tmp_path):
    _check_on_board(kws_gru16, "mps2-an386", tmp_path)
