"""`edgeq quantize --scheme int8|int16x8|float32`."""

import json

import numpy as np
import pytest
from paths import MLPERF, REPO

from edgeq.api import quantize_model
from edgeq.cli.main import main
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.metrics import sqnr_db
from edgeq.quality.validate import FloatLiteRT

DIGITS = REPO / "examples" / "digits"
MODEL, CALIB = DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy")


@pytest.fixture(scope="module")
def schemes():
    # int8 through the default arguments: the path every existing caller takes
    return {"int8": quantize_model(MODEL, CALIB),
            **{s: quantize_model(MODEL, CALIB, scheme=s) for s in ("int16x8", "float32")}}


@pytest.fixture(scope="module")
def test_data():
    import keras

    z = np.load(DIGITS / "test.npz")
    x, y = z["x"][:120].astype(np.float32), z["y"][:120]
    return x, y, keras.models.load_model(MODEL).predict(x, verbose=0)


def _run(model: bytes, x: np.ndarray) -> np.ndarray:
    return FloatLiteRT(model).run_all([x])[0]


def _dtypes(model: bytes) -> tuple[set, set]:
    g = read_tflite(model)
    io = {g.tensor(t).dtype for t in (*g.inputs, *g.outputs)}
    acts = {g.tensor(op.outputs[0]).dtype for op in g.ops}
    return io, acts


def test_int8_is_the_default_path_byte_for_byte(schemes):
    """--scheme int8 is the existing int8 conversion, unchanged (tests cache converted models by hash)."""
    from edgeq.frontend.load import load_model
    from edgeq.frontend.convert import quantize
    from edgeq.frontend.data import load_calibration, loaded_inputs

    loaded = load_model(MODEL)
    cal = load_calibration(CALIB, loaded_inputs(loaded))
    direct = quantize(loaded, cal)
    assert schemes["int8"].tflite == direct
    assert schemes["int8"].scheme == "int8" and _dtypes(direct) == ({"int8"}, {"int8"})


def test_float32_scheme(schemes, test_data):
    x, _, keras_out = test_data
    r = schemes["float32"]
    assert r.scheme == "float32" and r.calibration.startswith("none")
    assert _dtypes(r.tflite) == ({"float32"}, {"float32"})
    assert len(r.tflite) == r.float_bytes > 2 * len(schemes["int8"].tflite)
    assert np.max(np.abs(_run(r.tflite, x) - keras_out)) < 1e-5
    assert not r.unsupported  # H4's float32 kernels cover the digits CNN


def test_int16x8_scheme(schemes, test_data):
    """int16 activations: int16 I/O and activations, int8 weights, a >100x finer input scale."""
    x, y, keras_out = test_data
    r = schemes["int16x8"]
    assert r.scheme == "int16x8"
    io, acts = _dtypes(r.tflite)
    assert io == {"int16"} and acts == {"int16"}
    g = read_tflite(r.tflite)
    weights = {g.tensor(op.inputs[1]).dtype for op in g.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED")}
    assert weights == {"int8"}
    # activations >100x finer than int8: symmetric int16 vs asymmetric int8 (here the int8 weights dominate the error: the output SQNR is
    # about int8's, so only a sanity bound on it)
    g8 = read_tflite(schemes["int8"].tflite)
    for t16, t8 in zip(g.inputs, g8.inputs):
        assert g.tensor(t16).quant.scale[0] < g8.tensor(t8).quant.scale[0] / 100
    out16 = _run(r.tflite, x)
    assert sqnr_db(keras_out, out16) > 30
    assert np.mean(out16.argmax(-1) == y) >= np.mean(keras_out.argmax(-1) == y) - 0.01


def test_cli_schemes(tmp_path, capsys):
    out, js = tmp_path / "f.tflite", tmp_path / "f.json"
    assert main(["quantize", str(MODEL), "--scheme", "float32", "-o", str(out), "--json", str(js)]) == 0
    o = capsys.readouterr().out
    assert "float32 TFLite size" in o and "none (float32, not quantized)" in o
    rep = json.loads(js.read_text())
    assert rep["scheme"] == "float32" and rep["tflite_bytes"] == out.stat().st_size


@pytest.mark.parametrize("argv, message", [
    ([str(MODEL), "--scheme", "int16x8"], "needs calibration data"),
    ([str(MODEL)], "needs calibration data"),
    ([str(MLPERF / "resnet8_int8.tflite"), "--scheme", "float32"], "already a TFLite model"),
])
def test_cli_scheme_errors(tmp_path, capsys, argv, message):
    code = main(["quantize", *argv, "-o", str(tmp_path / "x.tflite")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.tflite").exists()


def test_tflite_scheme_tells_models_apart(schemes, tmp_path, capsys):
    """What `validate` / `generate` / convert-and-flash accept: int8, int16x8, float32 (and int8+float32,
    tests/quant/test_partial.py); a dynamic-range model (int8 weights computed on in float) is "hybrid", which
    generate takes as weight-only (tests/quant/test_weight_only.py)."""
    import tensorflow as tf

    from edgeq.frontend.runtime import import_keras
    from edgeq.frontend.tflite.kind import tflite_scheme

    assert {s: tflite_scheme(r.tflite) for s, r in schemes.items()} == {
        "int8": "int8", "int16x8": "int16x8", "float32": "float32"}
    converter = tf.lite.TFLiteConverter.from_keras_model(import_keras().models.load_model(MODEL))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    dynamic = tmp_path / "dynamic.tflite"
    dynamic.write_bytes(converter.convert())
    assert tflite_scheme(dynamic.read_bytes()) == "hybrid"
    capsys.readouterr()
    assert main(["generate", str(dynamic), "-o", str(tmp_path / "out")]) == 0


def test_a_tflite_already_in_the_scheme_passes_through(schemes, tmp_path, capsys):
    """A float32 .tflite with --scheme float32 (or an int16x8 one with --scheme int16x8) is deployed as it is,
    like an int8 .tflite; a .tflite in another scheme is refused, naming what it is."""
    for s in ("float32", "int16x8"):
        path = tmp_path / f"digits_{s}.tflite"
        path.write_bytes(schemes[s].tflite)
        r = quantize_model(path, None, scheme=s)
        assert r.tflite == schemes[s].tflite and r.scheme == s and r.calibration == f"none (already {s})"
    code = main(["quantize", str(tmp_path / "digits_float32.tflite"), "--scheme", "int16x8", "-o",
                 str(tmp_path / "x.tflite")])
    err = capsys.readouterr().err
    assert code == 2 and "already a TFLite model (float32)" in err and "Traceback" not in err
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.slow
def test_convert_and_flash_takes_a_calibration_method_and_a_float_tflite(schemes, tmp_path, capsys):
    """convert-and-flash --calibration percentile:99.9 gives the same model as quantize with that method,
    bit-exact on the emulated board; a float32 .tflite goes through convert-and-flash --scheme float32."""
    rep = tmp_path / "r.json"
    code = main(["convert-and-flash", str(MODEL), "--calib", CALIB, "--calibration", "percentile:99.9",
                 "--samples", "2", "--runs", "1", "--out", str(tmp_path / "cf"), "--report", str(rep)])
    assert code == 0, capsys.readouterr().err
    r = json.loads(rep.read_text())
    assert "percentile:99.9" in r["model"]["calibration"] and r["validation"]["bit_exact"]
    assert (tmp_path / "cf" / "digits_cnn_int8.tflite").read_bytes() == quantize_model(
        MODEL, CALIB, calibration="percentile:99.9").tflite
    f32 = tmp_path / "digits_f32.tflite"
    f32.write_bytes(schemes["float32"].tflite)
    code = main(["convert-and-flash", str(f32), "--scheme", "float32", "--samples", "2", "--runs", "1",
                 "--out", str(tmp_path / "cf32"), "--report", str(rep)])
    assert code == 0, capsys.readouterr().err
    r = json.loads(rep.read_text())
    assert r["model"]["scheme"] == "float32" and r["validation"]["ok"]
    assert (tmp_path / "cf32" / "digits_f32_float32.tflite").exists()
