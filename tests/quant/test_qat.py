"""Quantization-aware training: the fake quantization mirrors the int8 model exactly, and the int8 model
made from a QAT model has the learned ranges and weights and stays bit-exact in C.

The digits CNN of examples/digits is fine-tuned for 2 epochs on scikit-learn's digits (the QAT model is
cached by content hash under $EDGEQ_CACHE/qat); the other models are built untrained in the tests.
"""

import hashlib
import os
import sys

import numpy as np
import pytest
from paths import REPO

from edgeq.errors import EdgeqError
from edgeq.files import cache_dir
from edgeq.flows.qat import qat_model
from edgeq.flows.quantize import quantize_model
from edgeq.frontend import qat
from edgeq.frontend.data import Samples
from edgeq.frontend.load import load_model
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.validate import validate

DIGITS = REPO / "examples" / "digits"
WEIGHTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
FREE_SCALE = (*WEIGHTED, "MEAN", "ADD", "SOFTMAX")  # ops whose output quantization is their own


def digits_split():
    sys.path.insert(0, str(DIGITS))
    try:
        from train import load_digits_split
    finally:
        sys.path.remove(str(DIGITS))
    return load_digits_split(0)


@pytest.fixture(scope="session")
def digits_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("digits")
    (xtr, ytr), (xte, yte) = digits_split()
    np.savez(d / "train.npz", x=xtr[:600], y=ytr[:600])
    np.savez(d / "test.npz", x=xte, y=yte)
    return d


@pytest.fixture(scope="session")
def digits_qat(digits_data):
    """(path of the QAT .keras, QatResult or None when cached, its int8 model quantized without --calib):
    2 epochs on 600 digits."""
    sources = [DIGITS / "digits_cnn.keras", digits_data / "train.npz", digits_data / "test.npz",
               REPO / "edgeq" / "frontend" / "qat.py", REPO / "edgeq" / "flows" / "qat.py"]
    key = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:24]
    path = cache_dir() / "qat" / f"digits-{key}.keras"
    result = None
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        result = qat_model(DIGITS / "digits_cnn.keras", digits_data / "train.npz", val=digits_data / "test.npz",
                           epochs=2, lr=1e-4)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(result.keras)
        tmp.replace(path)
    int8 = path.with_suffix(".tflite")
    if not int8.exists():
        tmp = int8.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(quantize_model(path, None).tflite)
        tmp.replace(int8)
    return path, result, int8.read_bytes()


def fake_quant_params(lo: float, hi: float) -> tuple[np.float32, int]:
    """The scale and int8 zero point of FakeQuantWithMinMaxVars(lo, hi): its zero point is rounded in the
    uint8 domain (half away from zero there, so a tie goes up: [-3, 3] -> 128 - 128 = 0, where the
    converter's own calibration, rounding -0.5 in the int8 domain, gives -1). In float32, as the op computes."""
    scale = (np.float32(hi) - np.float32(lo)) / np.float32(255)
    z = np.float32(0) - np.float32(lo) / scale
    return scale, int(np.clip(np.floor(z + np.float32(0.5)), 0, 255)) - 128


def _free_outputs(g):
    return [g.tensor(op.outputs[0]) for op in g.ops if op.kind in FREE_SCALE]


def test_int8_model_has_exactly_the_learned_ranges(digits_qat):
    path, _, tflite = digits_qat
    model = load_model(path).keras_model
    g = read_tflite(tflite)
    layers = qat.fake_quant_layers(model)
    tensors = [g.tensor(g.inputs[0]), *_free_outputs(g)]
    assert len(layers) == len(tensors) == 9  # input, 3 conv, depthwise, mean, 2 dense, softmax
    for layer, t in zip(layers, tensors):
        scale, zero_point = fake_quant_params(float(layer.min.numpy()), float(layer.max.numpy()))
        assert t.quant.scale == (scale,) and t.quant.zero_point == (zero_point,), layer.name
    assert tensors[-1].quant.scale == (1 / 256,) and tensors[-1].quant.zero_point == (-128,)
    trained = [layer for layer in layers if not layer.fixed]
    assert any(float(layer.max.numpy()) != 1.0 for layer in trained)  # calibrated and trained, not the default


def test_calibration_data_does_not_change_the_int8_model(digits_qat):
    """Every range comes from the fake-quant ops: calibration data and method (or none) give the same bytes."""
    path, _, tflite = digits_qat
    assert quantize_model(path, "random", calibration="percentile:99").tflite == tflite


def test_int8_weights_are_the_qat_grid(digits_qat):
    """The converter's int8 weights are exactly the integers of the QAT model's rounded kernels."""
    path, _, tflite = digits_qat
    model = load_model(path).keras_model
    g = read_tflite(tflite)
    layers = [layer for layer in model.layers if type(layer).__name__ == "QuantWeights"]
    ops = [op for op in g.ops if op.kind in WEIGHTED]
    assert [op.kind for op in ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "CONV_2D", *["FULLY_CONNECTED"] * 2]
    for layer, op in zip(layers, ops):
        w = layer.quantized_kernel().numpy()
        axes = {"conv": (0, 1, 2), "depthwise": (0, 1), "dense": (0,)}[layer.kind]  # all but the output channel
        assert np.array_equal(w, qat.round_to_grid(layer.kernel.numpy(), 127, axes))
        w = w.transpose(3, 0, 1, 2) if w.ndim == 4 else w.T  # Keras HWIO / HWC1 / IO -> TFLite OHWI / 1HWC / OI
        t = g.tensor(op.inputs[1])
        assert t.quant.axis == (3 if op.kind == "DEPTHWISE_CONV_2D" else 0)
        shape = [1] * w.ndim
        shape[t.quant.axis] = -1
        q = w / np.asarray(t.quant.scale, np.float32).reshape(shape)
        assert np.abs(q - np.round(q)).max() < 1e-3, layer.name
        assert np.array_equal(np.round(q).astype(np.int8), t.data), layer.name
        assert np.abs(t.data).max() == 127


def test_qat_model_is_bit_exact_in_c_and_matches_its_simulation(digits_qat, digits_data):
    path, result, tflite = digits_qat
    z = np.load(digits_data / "test.npz")
    rep = validate(tflite, data=Samples("digits test", [z["x"]], z["y"]), c_host=True, samples=450)
    assert rep.c_host["litert"].bit_exact and rep.c_host["litert"].samples == 450
    model = load_model(path).keras_model
    simulated = float(np.mean(model.predict(z["x"], verbose=0).argmax(-1) == z["y"]))
    assert abs(rep.accuracy["quantized"] - simulated) <= 2 / 450  # fake quantization ~ the int8 model
    assert rep.accuracy["quantized"] > 0.93
    if result is not None:  # a fresh run (not cached): its own report agrees
        assert result.qat_accuracy == pytest.approx(simulated) and len(result.epochs) == 2
        assert set(result.calibrations) == {"minmax", "percentile:99.99", "mse", "entropy"}
        assert result.calibrations[result.calibration] == max(result.calibrations.values())


def test_saved_model_loads_in_plain_keras(digits_qat):
    import keras

    path, _, _ = digits_qat
    model = keras.models.load_model(path, compile=False, custom_objects=qat.custom_objects())
    again = load_model(path).keras_model
    x = np.load(DIGITS / "calib.npy")[:16]
    assert np.array_equal(model.predict(x, verbose=0), again.predict(x, verbose=0))
    assert qat.is_qat_model(model) and not qat.is_qat_model(load_model(DIGITS / "digits_cnn.keras").keras_model)


def _residual_bn_model():
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((8, 8, 3), name="x")
    a = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="c1")(inp)
    a = keras.layers.BatchNormalization(name="bn1")(a)
    a = keras.layers.ReLU(6.0, name="r1")(a)
    b = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(a)
    b = keras.layers.BatchNormalization(name="bn2")(b)
    s = keras.layers.ReLU(name="r2")(keras.layers.Add(name="add")([a, b]))
    s = keras.layers.MaxPooling2D(name="pool")(s)
    y = keras.layers.Dense(5, activation="softmax", name="fc")(keras.layers.GlobalAveragePooling2D(name="gap")(s))
    model = keras.Model(inp, y)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # BN statistics far from the identity, as after training
        if type(layer).__name__ == "BatchNormalization":
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.2, 3, n), rng.normal(0, 0.5, n), rng.normal(0, 0.5, n),
                               rng.uniform(0.1, 4, n)])
    return model


def test_bn_folded_and_add_relu_fused_as_the_converter_does(tmp_path):
    model = _residual_bn_model()
    wrapped, points = qat.wrap(model)
    kinds = [type(layer).__name__ for layer in wrapped.layers]
    assert "BatchNormalization" not in kinds  # folded into the conv / depthwise before them
    # quantized: the input, after each ReLU (fused into conv and add), the mean, the dense, the softmax
    assert [p.after for p in points] == ["input:x", "r1", "dw", "r2", "gap", "fc", "fc_softmax"]
    x = np.random.default_rng(1).normal(0, 1, (32, 8, 8, 3)).astype(np.float32)
    qat.set_enabled(wrapped, False)
    np.testing.assert_allclose(wrapped(x).numpy(), model(x).numpy(), rtol=1e-4, atol=1e-6)  # the fold is exact
    qat.set_enabled(wrapped, True)
    for layer, (lo, hi) in zip(qat.fake_quant_layers(wrapped), [(-3, 3), (0, 6), (-4, 5), (0, 9), (0, 3), (-5, 7)]):
        layer.set_range(lo, hi)
    path = tmp_path / "res_qat.keras"
    wrapped.save(path)
    tflite = quantize_model(path, None).tflite
    g = read_tflite(tflite)
    assert [op.kind for op in g.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "MEAN",
                                         "FULLY_CONNECTED", "SOFTMAX"]
    assert [op.attrs.get("fused_activation_function") for op in g.ops if op.kind in ("CONV_2D", "ADD")] == \
        ["RELU6", "RELU"]
    free = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MEAN", "FULLY_CONNECTED")
    tensors = [g.tensor(g.inputs[0]), *(g.tensor(op.outputs[0]) for op in g.ops if op.kind in free)]
    for t, (lo, hi) in zip(tensors, [(-3, 3), (0, 6), (-4, 5), (0, 9), (0, 3), (-5, 7)]):
        scale, zero_point = fake_quant_params(lo, hi)
        assert t.quant.scale == (scale,) and t.quant.zero_point == (zero_point,), t.name
    rep = validate(tflite, data=Samples("normal", [x]), c_host=True, samples=16)
    assert rep.c_host["litert"].bit_exact and rep.c_host["tflm"].bit_exact


@pytest.mark.parametrize("bits, per_channel", [(8, False), (4, True), (4, False)])
def test_weight_grid_granularity_and_bits(bits, per_channel):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    y = keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(inp)))
    wrapped, _ = qat.wrap(keras.Model(inp, y), weight_bits=bits, per_channel=per_channel)
    qmax = 2 ** (bits - 1) - 1
    for layer in (layer for layer in wrapped.layers if type(layer).__name__ == "QuantWeights"):
        k = layer.kernel.numpy()
        w = layer.quantized_kernel().numpy()
        axes = ((0, 1, 2) if k.ndim == 4 else (0,)) if per_channel else None
        assert np.array_equal(w, qat.round_to_grid(k, qmax, axes))
        scale = np.max(np.abs(k), axis=axes) / qmax
        levels = np.unique(np.round(w / scale).astype(int))
        assert levels.min() >= -qmax and levels.max() <= qmax and len(levels) > (2 if bits == 4 else 20)


def test_gradients_pass_straight_through_and_train_the_ranges():
    import keras
    import tensorflow as tf

    inp = keras.Input((4,))
    wrapped, _ = qat.wrap(keras.Model(inp, keras.layers.Dense(3)(inp)))
    dense = wrapped.layers[2]
    out_fq = qat.fake_quant_layers(wrapped)[-1]
    out_fq.set_range(-0.5, 0.5)
    x = tf.constant(np.random.default_rng(0).normal(0, 2, (64, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        y = wrapped(x)
        loss = tf.reduce_sum(y * tf.constant([[1.0, -2.0, 3.0]]))
    g_kernel = tape.gradient(loss, dense.kernel).numpy()
    assert np.abs(g_kernel).sum() > 0  # not zero despite the rounding
    assert tape.gradient(loss, out_fq.max) is not None and float(tape.gradient(loss, out_fq.max)) != 0


def test_layers_that_cannot_be_wrapped_are_listed_at_once():
    import keras

    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, activation="gelu")(inp)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.BatchNormalization()(keras.layers.MaxPooling2D()(x))
    y = keras.layers.Dense(3)(keras.layers.Flatten()(x))
    with pytest.raises(EdgeqError) as e:
        qat.wrap(keras.Model(inp, y))
    assert "cannot wrap 3 layer(s)" in e.value.what
    detail = "\n".join(e.value.detail)
    for name in ("conv2d", "layer_normalization", "batch_normalization"):
        assert name in detail
    assert "gelu" in detail and "BatchNormalization is folded only after" in detail


def test_concatenation_inputs_take_its_range(tmp_path):
    """The converter gives every CONCATENATION input the output's quantization: the QAT model quantizes the
    inputs only through the concatenation's range (and refuses an input that feeds another layer too)."""
    import keras

    inp = keras.Input((6, 6, 2), name="x")
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="a")(inp)
    b = keras.layers.ReLU(name="rb")(keras.layers.Conv2D(4, 3, padding="same", name="b")(inp))
    c = keras.layers.Concatenate(name="cat")([a, b])
    y = keras.layers.Dense(3, name="fc")(keras.layers.GlobalAveragePooling2D(name="gap")(c))
    assert [p.after for p in qat.wrap(keras.Model(inp, b))[1]] == ["input:x", "rb"]  # conv b fused into its ReLU
    wrapped, points = qat.wrap(keras.Model(inp, y))
    assert [p.after for p in points] == ["input:x", "cat", "gap", "fc"]
    for layer, (lo, hi) in zip(qat.fake_quant_layers(wrapped), [(-1, 1), (0, 4), (0, 3), (-2, 2)]):
        layer.set_range(lo, hi)
    wrapped.save(tmp_path / "cat.keras")
    g = read_tflite(quantize_model(tmp_path / "cat.keras", None).tflite)
    concat = next(op for op in g.ops if op.kind == "CONCATENATION")
    assert {g.tensor(t).quant.scale for t in (*concat.inputs, *concat.outputs)} == {(fake_quant_params(0, 4)[0],)}
    shared = keras.layers.Add()([keras.layers.Concatenate(name="cat2")([a, b]), keras.layers.Concatenate()([b, a])])
    with pytest.raises(EdgeqError, match="cat2 .Concatenate.: its inputs a, rb feed other layers too"):
        qat.wrap(keras.Model(inp, shared))
