"""int8 UNIDIRECTIONAL_SEQUENCE_LSTM (int16 cell state) against LiteRT's reference, byte for byte.

Keras 3 LSTM layers are rebuilt by edgeq.frontend.rnn.rebuild_rnn_model so that the converter emits the
fused op (the converter crashes on a Keras 3 LSTM itself). TFLM's LSTM is a different implementation (its
own int16 sigmoid/tanh and element-wise multiplications): the kernel's TFLM mode (rounding "tflm") is
compared with TFLM, its LiteRT mode with LiteRT, on every shape.
"""

import keras
import numpy as np
import pytest

from harness import assert_bit_exact, int8_tflite

from edgeq.frontend.rnn import rebuild_rnn_model
from edgeq.frontend.tflite.reader import read_tflite


def _lstm_model(steps, features, units, sequences, seed=0, **kw):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((steps, features), batch_size=1)
    out = keras.layers.LSTM(units, return_sequences=sequences, **kw)(inp)
    return keras.Model(inp, out)


def _check(model, calib_scale=1.0, n=12, seed=0, roundings=("litert", "tflm")):
    fused = rebuild_rnn_model(model)
    tfl = int8_tflite(fused, scale=calib_scale, seed=seed)
    return assert_bit_exact(fused, expect_ops={"UNIDIRECTIONAL_SEQUENCE_LSTM"}, model_bytes=tfl,
                            roundings=roundings, n=n)


@pytest.mark.parametrize("steps,features,units,sequences", [
    (1, 1, 1, True), (3, 5, 7, True), (8, 33, 17, False), (49, 10, 32, True), (12, 4, 64, False),
    (5, 16, 3, True), (20, 7, 5, False), (2, 130, 9, True),
])
def test_lstm_shapes(steps, features, units, sequences):
    _check(_lstm_model(steps, features, units, sequences))


@pytest.mark.parametrize("seed", range(6))
def test_lstm_random_shapes_and_scales(seed):
    """Random shapes, weight magnitudes and calibration ranges (so random gate, cell and output scales)."""
    rng = np.random.default_rng(100 + seed)
    steps, features, units = int(rng.integers(1, 16)), int(rng.integers(1, 40)), int(rng.integers(1, 40))
    model = _lstm_model(steps, features, units, bool(rng.integers(2)), seed=seed)
    model.set_weights([w * np.float32(2.0 ** rng.uniform(-2, 2)) for w in model.get_weights()])
    fused = rebuild_rnn_model(model)
    tfl = int8_tflite(fused, scale=float(2.0 ** rng.uniform(-3, 3)), seed=seed)
    cell_scale = next(read_tflite(tfl).tensor(op.inputs[19]).quant.scale[0] for op in read_tflite(tfl).ops
                      if op.kind == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    # below 2^-15 LiteRT's tanh has no case (refused, test_cell_scale_beyond_litert_tanh_is_refused)
    roundings = ("litert", "tflm") if cell_scale >= 2.0 ** -15 else ("tflm",)
    assert_bit_exact(fused, expect_ops={"UNIDIRECTIONAL_SEQUENCE_LSTM"}, model_bytes=tfl, roundings=roundings, n=8)


@pytest.mark.parametrize("calib_scale", [0.05, 8.0])
def test_lstm_saturated_and_tiny_ranges(calib_scale):
    """Calibration far below / above the inputs fed: gates pinned at the ends of the Q3.12 range, cell
    scales from the converter's smallest to its largest power of two."""
    model = _lstm_model(10, 6, 12, True)
    w = model.get_weights()
    model.set_weights([v * 3.0 for v in w[:2]] + w[2:])
    _check(model, calib_scale=calib_scale)


def test_lstm_without_bias():
    _check(_lstm_model(6, 8, 10, True, use_bias=False))


def test_stacked_lstm_behind_conv1d():
    keras.utils.set_random_seed(1)
    inp = keras.Input((49, 10), batch_size=1)
    x = keras.layers.Conv1D(16, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.LSTM(24, return_sequences=True)(x)
    x = keras.layers.LSTM(12)(x)
    out = keras.layers.Dense(5)(x)
    tfl = _check(keras.Model(inp, out), n=8)
    kinds = [op.kind for op in read_tflite(tfl).ops]
    assert kinds.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2
    assert len(tfl) < 20_000, "weights stored once, not per step"


def test_fused_model_computes_the_keras_lstm():
    """The rebuilt float model equals the original (the converter replaces the body, Keras runs it)."""
    keras.utils.set_random_seed(2)
    inp = keras.Input((7, 3), batch_size=1)
    x = keras.layers.LSTM(5, return_sequences=True)(inp)
    m = keras.Model(inp, keras.layers.Dense(2)(keras.layers.LSTM(4)(x)))
    x = np.random.default_rng(3).standard_normal((2, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(rebuild_rnn_model(m)(x)), np.asarray(m(x)), rtol=1e-5, atol=1e-6)


def test_cell_scale_beyond_litert_tanh_is_refused():
    """A cell range so small that the converter picks a cell scale below 2^-15: LiteRT's ApplyTanh has no
    case for it (it leaves its output buffer as it was), so edgeq names the op instead of imitating that."""
    from edgeq.api import lower_tflite
    from edgeq.errors import UnsupportedOpsError

    model = _lstm_model(4, 3, 2, True)
    model.set_weights([v * 0.01 for v in model.get_weights()])
    tfl = int8_tflite(rebuild_rnn_model(model), scale=0.01)
    with pytest.raises(UnsupportedOpsError, match="cell state scale 2\\^-"):
        lower_tflite(tfl, "litert")
    # TFLM's table tanh takes any cell scale (the input shifted right, multiplier 3): matched byte for byte
    assert_bit_exact(None, expect_ops={"UNIDIRECTIONAL_SEQUENCE_LSTM"}, model_bytes=tfl, roundings=("tflm",), n=8)


def test_tflm_mode_differs_from_litert_mode():
    """The two modes compute different bytes on some inputs (else the TFLM comparisons above would not
    show that the TFLM mode is needed): LiteRT's and TFLM's outputs differ, and each C mode matches its own."""
    from edgeq.quality.references import TFLM, LiteRT
    from harness import random_inputs

    tfl = int8_tflite(rebuild_rnn_model(_lstm_model(49, 10, 32, True)))
    x = random_inputs(tfl, 4)
    lite = [LiteRT(tfl).run(s) for s in x]
    micro = [TFLM(tfl).run(s) for s in x]
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(lite, micro))
