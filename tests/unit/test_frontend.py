"""Front end: loading models (Keras 3, Keras 2 HDF5, SavedModel, TFLite), calibration data, int8 quantization."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from edgeq.errors import EdgeqError
from edgeq.frontend.load import LoadedModel, load_model
from edgeq.frontend.runtime import import_keras, import_tf
from edgeq.frontend.tflite.kind import is_int8_tflite, tflite_interpreter, tflite_interpreter_here
from edgeq.frontend.convert import converter_messages, float_tflite_bytes, quantize
from edgeq.frontend.tflite.kind import ensure_int8
from edgeq.frontend.data import InputSpec, Samples, load_calibration, loaded_inputs

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHARED = Path(__file__).resolve().parents[3] / "shared/models/mlperf-tiny"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "resnet8.h5").is_file():
        pytest.skip(f"shared models not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def shared_models(shared: Path) -> dict[str, LoadedModel]:
    return {name: load_model(shared / name) for name in ("resnet8.h5", "ad01.h5", "kws_dscnn.keras")}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A small Keras 3 model with non-trivial weights, saved as .keras, .h5 and a SavedModel."""
    keras = import_keras()
    directory = tmp_path_factory.mktemp("tiny")
    inputs = keras.Input((8, 8, 2), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32) for w in model.get_weights()])
    paths = {"keras": directory / "tiny.keras", "h5": directory / "tiny.h5", "savedmodel": directory / "tiny_sm"}
    model.save(paths["keras"])
    model.save(paths["h5"])
    model.export(str(paths["savedmodel"]), verbose=False)
    x = rng.uniform(-1, 1, (4, 8, 8, 2)).astype(np.float32)
    return {"model": model, "paths": paths, "x": x, "y": model.predict(x, verbose=0), "dir": directory}


@pytest.fixture(scope="session")
def quantized(shared: Path, shared_models: dict[str, LoadedModel], tiny: dict[str, Any]) -> dict[str, bytes]:
    """The int8 conversions used by several tests (conversions take seconds, so they are made once)."""
    calib_specs = {
        "resnet8.h5": "random",
        "ad01.h5": shared / "ad01_sample_input_40x640_f32.bin",
        "kws_dscnn.keras": "random",
    }
    out = {}
    for name, spec in calib_specs.items():
        model = shared_models[name]
        out[name] = quantize(model, load_calibration(spec, loaded_inputs(model), random_count=20))
    sm = load_model(tiny["paths"]["savedmodel"])
    out["tiny_sm"] = quantize(sm, load_calibration("random", loaded_inputs(sm), random_count=10))
    return out


def io_details(data: bytes) -> list[dict[str, Any]]:
    interpreter = tflite_interpreter(data)
    return interpreter.get_input_details() + interpreter.get_output_details()


def error_text(excinfo: pytest.ExceptionInfo[EdgeqError]) -> str:
    return excinfo.value.format()


# --------------------------------------------------------------------------------------------------
# Loading the shared MLPerf Tiny models


def test_resnet8_h5_loads_with_its_weights(shared: Path, shared_models: dict[str, LoadedModel]) -> None:
    loaded = shared_models["resnet8.h5"]
    assert (loaded.kind, loaded.input_shapes, loaded.input_names) == ("h5", [(32, 32, 3)], ["input_1"])
    assert loaded.input_dtypes == [np.dtype(np.float32)]
    assert loaded.saved_model_dir is None and loaded.tflite_bytes is None
    with h5py.File(shared / "resnet8.h5", "r") as h5:
        kernel = h5["model_weights/conv2d/conv2d/kernel:0"][()]
        dense_bias = h5["model_weights/dense/dense/bias:0"][()]
    conv_kernel = loaded.keras_model.get_layer("conv2d").get_weights()[0]
    np.testing.assert_array_equal(conv_kernel, kernel)
    np.testing.assert_array_equal(loaded.keras_model.get_layer("dense").get_weights()[1], dense_bias)
    y = loaded.keras_model.predict(np.random.default_rng(0).uniform(0, 1, (3, 32, 32, 3)), verbose=0)
    assert y.shape == (3, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_ad01_h5_loads_with_its_weights(shared: Path, shared_models: dict[str, LoadedModel]) -> None:
    loaded = shared_models["ad01.h5"]
    assert (loaded.kind, loaded.input_shapes) == ("h5", [(640,)])
    with h5py.File(shared / "ad01.h5", "r") as h5:
        kernel = h5["model_weights/dense/dense/kernel:0"][()]
    np.testing.assert_array_equal(loaded.keras_model.get_layer("dense").get_weights()[0], kernel)
    x = np.fromfile(shared / "ad01_sample_input_40x640_f32.bin", dtype="<f4").reshape(40, 640)
    y = loaded.keras_model.predict(x, verbose=0)
    # An autoencoder trained on this data reconstructs it far better than a constant guess would.
    assert np.mean((y - x) ** 2) < 0.5 * np.mean((x - x.mean()) ** 2)


def test_kws_keras_loads(shared_models: dict[str, LoadedModel]) -> None:
    loaded = shared_models["kws_dscnn.keras"]
    assert (loaded.kind, loaded.input_shapes) == ("keras", [(49, 10, 1)])
    y = loaded.keras_model.predict(np.zeros((2, 49, 10, 1), np.float32), verbose=0)
    assert y.shape == (2, 12)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_tflite_loads_and_reports_int8(shared: Path) -> None:
    int8 = load_model(shared / "resnet8_int8.tflite")
    assert (int8.kind, int8.input_shapes, int8.input_dtypes) == ("tflite", [(32, 32, 3)], [np.dtype(np.int8)])
    assert int8.tflite_bytes is not None and is_int8_tflite(int8.tflite_bytes)
    float_model = load_model(shared / "kws_dscnn_float32.tflite")
    assert float_model.input_dtypes == [np.dtype(np.float32)]
    assert float_model.tflite_bytes is not None and not is_int8_tflite(float_model.tflite_bytes)


# --------------------------------------------------------------------------------------------------
# Loading a Keras 3 model in every format


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_keras3_files_load(tiny: dict[str, Any], kind: str) -> None:
    loaded = load_model(tiny["paths"][kind])
    assert (loaded.kind, loaded.input_shapes, loaded.input_names, loaded.notes) == (kind, [(8, 8, 2)], ["image"], ())
    np.testing.assert_allclose(loaded.keras_model.predict(tiny["x"], verbose=0), tiny["y"], rtol=1e-5, atol=1e-6)


def test_saved_model_loads(tiny: dict[str, Any]) -> None:
    loaded = load_model(tiny["paths"]["savedmodel"])
    assert loaded.kind == "savedmodel" and loaded.keras_model is None
    assert loaded.saved_model_dir == tiny["paths"]["savedmodel"]
    assert (loaded.input_shapes, loaded.input_dtypes) == ([(8, 8, 2)], [np.dtype(np.float32)])


def _with_config(source: Path, target: Path, edit: Any) -> Path:
    """A copy of an .h5 model file with its model config changed by ``edit(layers)``."""
    target.write_bytes(source.read_bytes())
    with h5py.File(target, "r+") as h5:
        config = json.loads(h5.attrs["model_config"])
        edit(config["config"]["layers"])
        h5.attrs["model_config"] = json.dumps(config)
    return target


def test_keras2_only_config_keys_are_dropped(tiny: dict[str, Any]) -> None:
    def add_keras2_keys(layers: list[dict[str, Any]]) -> None:
        for layer in layers:
            if layer["class_name"] == "DepthwiseConv2D":
                layer["config"]["groups"] = 1
            if layer["class_name"] == "BatchNormalization":
                layer["config"].update(fused=None, virtual_batch_size=None, adjustment=None)

    path = _with_config(tiny["paths"]["h5"], tiny["dir"] / "keras2_keys.h5", add_keras2_keys)
    keras = import_keras()
    with pytest.raises(Exception, match="groups"):  # plain Keras 3 refuses the file ...
        keras.models.load_model(path, compile=False)
    loaded = load_model(path)  # ... edgeq loads it, with the same weights
    assert len(loaded.notes) == 1
    assert "DepthwiseConv2D.groups" in loaded.notes[0] and "BatchNormalization.fused" in loaded.notes[0]
    np.testing.assert_allclose(loaded.keras_model.predict(tiny["x"], verbose=0), tiny["y"], rtol=1e-5, atol=1e-6)


def test_unknown_layer_class_is_named(tiny: dict[str, Any]) -> None:
    def rename_dense(layers: list[dict[str, Any]]) -> None:
        layers[-1]["class_name"] = "TFOpLambda"

    path = _with_config(tiny["paths"]["h5"], tiny["dir"] / "tfoplambda.h5", rename_dense)
    with pytest.raises(EdgeqError, match="TFOpLambda") as excinfo:
        load_model(path)
    assert excinfo.value.hint and "SavedModel" in excinfo.value.hint


# --------------------------------------------------------------------------------------------------
# Load errors


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(EdgeqError, match="does not exist"):
        load_model(tmp_path / "nope.h5")


def test_unknown_model_extension(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(EdgeqError, match=r"unknown model file extension '\.onnx'") as excinfo:
        load_model(tmp_path / "model.onnx")
    assert ".keras" in error_text(excinfo) and ".tflite" in error_text(excinfo)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("model.h5", "not an HDF5 file"),
        ("model.keras", "not a Keras model file"),
        ("model.tflite", "not a TFLite model"),
    ],
)
def test_corrupt_model_file(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / name).write_text("this is not a model\n")
    with pytest.raises(EdgeqError, match=message):
        load_model(tmp_path / name)


def test_truncated_tflite(shared: Path, tmp_path: Path) -> None:
    (tmp_path / "cut.tflite").write_bytes((shared / "resnet8_int8.tflite").read_bytes()[:2000])
    with pytest.raises(EdgeqError, match="could not be read as a TFLite model"):
        load_model(tmp_path / "cut.tflite")


def test_directory_that_is_not_a_saved_model(tmp_path: Path) -> None:
    with pytest.raises(EdgeqError, match="not a TensorFlow SavedModel"):
        load_model(tmp_path)


def test_weights_only_h5(tiny: dict[str, Any]) -> None:
    path = tiny["dir"] / "tiny.weights.h5"
    tiny["model"].save_weights(path)
    with pytest.raises(EdgeqError, match="holds only weights") as excinfo:
        load_model(path)
    assert excinfo.value.hint and "model.save(" in excinfo.value.hint


# --------------------------------------------------------------------------------------------------
# Calibration data

FLOAT32 = np.dtype(np.float32)


def specs(*shapes: tuple[int | None, ...], names: tuple[str, ...] = ("image", "b")) -> list[InputSpec]:
    return [InputSpec(name, shape, FLOAT32) for name, shape in zip(names, shapes)]


def calib(spec: Any, **kwargs: Any) -> Samples:
    return load_calibration(spec, specs((4, 4, 3)), **kwargs)


def test_calibration_npy(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 3)).astype(np.float32)
    np.save(tmp_path / "c.npy", x)
    data = calib(tmp_path / "c.npy")
    assert data.representative and data.warning is None and data.count == 5
    np.testing.assert_array_equal(data.inputs[0], x)
    samples = list(data.samples())
    assert len(samples) == 5 and samples[2][0].shape == (1, 4, 4, 3)


@pytest.mark.parametrize("key", ["x", "x0", "anything", "image"])
def test_calibration_npz_keys(tmp_path: Path, key: str) -> None:
    np.savez(tmp_path / "c.npz", **{key: np.ones((2, 4, 4, 3), np.float32)})
    assert calib(tmp_path / "c.npz").count == 2


def test_calibration_npz_per_input_name(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", a=np.ones((3, 4)), b=np.zeros((3, 2)))
    data = load_calibration(tmp_path / "c.npz", specs((4,), (2,), names=("a", "b")))
    assert [a.shape for a in data.inputs] == [(3, 4), (3, 2)]
    np.savez(tmp_path / "bad.npz", a=np.ones((3, 4)), c=np.zeros((3, 2)))
    with pytest.raises(EdgeqError, match="one array per model input"):
        load_calibration(tmp_path / "bad.npz", specs((4,), (2,), names=("a", "b")))


def test_calibration_npz_ambiguous_keys(tmp_path: Path) -> None:
    np.savez(tmp_path / "c.npz", first=np.ones((2, 4, 4, 3)), second=np.ones((2, 4, 4, 3)))
    with pytest.raises(EdgeqError, match="cannot tell which") as excinfo:
        calib(tmp_path / "c.npz")
    assert excinfo.value.hint and "'x'" in excinfo.value.hint


def test_calibration_bin(shared: Path, tmp_path: Path) -> None:
    data = load_calibration(shared / "ad01_sample_input_40x640_f32.bin", specs((640,)))
    assert data.inputs[0].shape == (40, 640) and data.inputs[0].dtype == np.float32
    np.arange(50, dtype="<f4").tofile(tmp_path / "odd.bin")
    with pytest.raises(EdgeqError, match="not a whole number of samples") as excinfo:
        calib(tmp_path / "odd.bin")
    assert "48 float32 values" in error_text(excinfo)
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(EdgeqError, match="is empty"):
        calib(tmp_path / "empty.bin")


def test_calibration_wrong_shape_message(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", np.zeros((10, 32, 32), np.float32))
    with pytest.raises(EdgeqError) as excinfo:
        load_calibration(tmp_path / "c.npy", specs((32, 32, 3)))
    assert excinfo.value.what.endswith(
        "has shape (10, 32, 32) = 10 samples of (32, 32), but the model input takes (32, 32, 3) per sample; "
        "expected (N, 32, 32, 3)"
    )


def test_calibration_single_sample_gets_batch(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.ones((4, 4, 3), np.float32))
    data = calib(tmp_path / "one.npy")
    assert data.inputs[0].shape == (1, 4, 4, 3)
    assert data.notes and "N=1" in data.notes[0]


def test_calibration_integers_cast_to_float32(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", np.arange(96, dtype=np.uint8).reshape(2, 4, 4, 3))
    data = calib(tmp_path / "c.npy")
    assert data.inputs[0].dtype == np.float32 and data.inputs[0][1, 3, 3, 2] == 95.0


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_calibration_rejects_nan_and_inf(tmp_path: Path, bad: float) -> None:
    x = np.zeros((3, 4, 4, 3), np.float32)
    x[2, 1, 1, 0] = bad
    np.save(tmp_path / "c.npy", x)
    with pytest.raises(EdgeqError, match=r"1 NaN/Inf value\(s\) \(first in sample 2\)"):
        calib(tmp_path / "c.npy")


def test_calibration_rejects_empty(tmp_path: Path) -> None:
    np.save(tmp_path / "c.npy", np.zeros((0, 4, 4, 3), np.float32))
    with pytest.raises(EdgeqError, match=r"is empty \(shape \(0, 4, 4, 3\)\)"):
        calib(tmp_path / "c.npy")


def test_calibration_rejects_non_numeric_and_pickles(tmp_path: Path) -> None:
    np.save(tmp_path / "s.npy", np.array([["a"] * 3] * 4))
    with pytest.raises(EdgeqError, match="has dtype <U1"):
        calib(tmp_path / "s.npy")
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(EdgeqError, match=r"not a readable \.npy array"):
        calib(tmp_path / "o.npy")


def test_calibration_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(EdgeqError, match="does not exist"):
        calib(tmp_path / "nope.npy")
    (tmp_path / "c.csv").write_text("1,2,3\n")
    with pytest.raises(EdgeqError, match=r"unknown format '\.csv'"):
        calib(tmp_path / "c.csv")


def test_calibration_random() -> None:
    data = calib("random", random_range=(0.0, 2.0), random_count=7, seed=3)
    assert not data.representative and data.warning and "NOT representative" in data.warning
    x = data.inputs[0]
    assert x.shape == (7, 4, 4, 3) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() < 2.0
    np.testing.assert_array_equal(x, calib("random", random_range=(0.0, 2.0), random_count=7, seed=3).inputs[0])
    with pytest.raises(EdgeqError, match="variable dimension"):
        load_calibration("random", specs((None, 3)))


# --------------------------------------------------------------------------------------------------
# Quantization


@pytest.mark.parametrize(
    ("name", "input_shape", "output_shape"),
    [
        ("resnet8.h5", [1, 32, 32, 3], [1, 10]),
        ("ad01.h5", [1, 640], [1, 640]),
        ("kws_dscnn.keras", [1, 49, 10, 1], [1, 12]),
        ("tiny_sm", [1, 8, 8, 2], [1, 3]),
    ],
)
def test_quantized_models_are_int8_batch1(
    quantized: dict[str, bytes], name: str, input_shape: list[int], output_shape: list[int]
) -> None:
    data = quantized[name]
    assert is_int8_tflite(data)
    (inp, out) = io_details(data)
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    assert list(inp["shape_signature"]) == input_shape and list(out["shape_signature"]) == output_shape


def test_quantized_ad01_tracks_the_float_model(
    shared: Path, shared_models: dict[str, LoadedModel], quantized: dict[str, bytes]
) -> None:
    x = np.fromfile(shared / "ad01_sample_input_40x640_f32.bin", dtype="<f4").reshape(40, 640)[:8]
    expected = shared_models["ad01.h5"].keras_model.predict(x, verbose=0)
    interpreter = tflite_interpreter_here(quantized["ad01.h5"], "ad01")  # the LiteRT interpreter itself
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], out["quantization"]
    for sample, want in zip(x, expected):
        q = np.clip(np.round(sample / in_scale + in_zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q[None])
        interpreter.invoke()
        got = (interpreter.get_tensor(out["index"])[0].astype(np.float32) - out_zero) * out_scale
        assert np.mean((got - want) ** 2) < 0.05 * np.mean(want**2)


def test_quantize_options_progress_and_float_size(tiny: dict[str, Any]) -> None:
    loaded = load_model(tiny["paths"]["keras"])
    data = load_calibration("random", loaded_inputs(loaded), random_count=6)
    calls: list[tuple[int, int]] = []
    per_channel = quantize(loaded, data, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    per_tensor = quantize(loaded, data, per_channel=False)
    assert is_int8_tflite(per_tensor) and len(per_tensor) < len(per_channel)
    float_bytes = float_tflite_bytes(loaded)
    assert io_details(float_bytes)[0]["dtype"] == np.float32 and not is_int8_tflite(float_bytes)


def test_quantize_multi_input_npz(tmp_path: Path) -> None:
    keras = import_keras()
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    merged = keras.layers.Concatenate()([keras.layers.Dense(5)(a), b])
    keras.Model([a, b], keras.layers.Dense(2)(merged)).save(tmp_path / "two.keras")
    loaded = load_model(tmp_path / "two.keras")
    assert loaded.input_names == ["a", "b"] and loaded.input_shapes == [(4,), (3,)]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "c.npz", a=rng.normal(size=(8, 4)), b=rng.normal(size=(8, 3)))
    data = load_calibration(tmp_path / "c.npz", loaded_inputs(loaded))
    details = io_details(quantize(loaded, data))
    assert [d["dtype"] for d in details] == [np.int8] * 3


def test_converter_failure_is_one_clear_error(tmp_path: Path) -> None:
    keras, tf = import_keras(), import_tf()
    inputs = keras.Input((8,), name="x")
    outputs = keras.layers.Dense(2)(keras.layers.Lambda(tf.math.erfinv)(inputs))
    keras.Model(inputs, outputs).export(str(tmp_path / "sm"), verbose=False)
    loaded = load_model(tmp_path / "sm")
    with pytest.raises(EdgeqError, match="TFLite converter failed") as excinfo:
        quantize(loaded, load_calibration("random", loaded_inputs(loaded), random_count=2))
    assert any("Erfinv" in line for line in excinfo.value.detail)


def test_converter_messages() -> None:
    text = (
        'Could not translate MLIR to FlatBuffer.<unknown>:0: error: loc(callsite(fused["Erfinv:", "a(b)"])): '
        "'tf.Erfinv' op is neither a custom op nor a flex op\n"
        "<unknown>:0: note: called from\n"
        "<unknown>:0: error: failed while converting: 'main': \n"
        "Custom ops: Erfinv\n"
        "Details:\n"
    )
    assert converter_messages(text) == ["'tf.Erfinv' op is neither a custom op nor a flex op", "Custom ops: Erfinv"]
    assert converter_messages("RuntimeError\nNode number 2 (RESHAPE) failed to prepare.") == [
        "Node number 2 (RESHAPE) failed to prepare."
    ]


# --------------------------------------------------------------------------------------------------
# TFLite input


def test_ensure_int8(shared: Path) -> None:
    int8 = load_model(shared / "ad01_int8.tflite")
    assert ensure_int8(int8) == (shared / "ad01_int8.tflite").read_bytes()
    float_model = load_model(shared / "kws_dscnn_float32.tflite")
    with pytest.raises(EdgeqError, match="not a fully int8-quantized TFLite model") as excinfo:
        ensure_int8(float_model)
    assert any("float32, not int8" in line for line in excinfo.value.detail)
    assert excinfo.value.hint and "Keras model" in excinfo.value.hint


def test_tflite_is_not_requantized(shared: Path) -> None:
    loaded = load_model(shared / "resnet8_int8.tflite")
    with pytest.raises(EdgeqError, match="already a TFLite model"):
        quantize(loaded, load_calibration("random", specs((32, 32, 3)), random_count=1))
    with pytest.raises(EdgeqError, match="no float model"):
        float_tflite_bytes(loaded)
