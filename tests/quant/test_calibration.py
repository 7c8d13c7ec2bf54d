"""Calibration methods end to end: ranges reach the int8 model, beat min/max on outliers, stay bit-exact in C.

A small conv net is calibrated on data where two of 200 samples carry one glitch pixel of +-60 (the rest
is N(0, 1)): min/max stretches every activation range to the glitch, percentile / entropy clip it. The
int8 models are measured on clean samples against the float model.
"""

import json

import numpy as np
import pytest
from paths import REPO

from edgeq.api import compare_calibrations, quantize_model
from edgeq.cli.main import main
from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate as K
from edgeq.frontend import partial as mixed
from edgeq.frontend.load import load_model
from edgeq.frontend.convert import quantize
from edgeq.frontend.data import Samples, load_calibration, loaded_inputs
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.validate import validate

DIGITS = REPO / "examples" / "digits"


@pytest.fixture(scope="module")
def outlier(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("outlier")
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(10)(x)
    keras.Model(inp, out).save(d / "outlier.keras")
    rng = np.random.default_rng(0)
    calib = rng.standard_normal((200, 16, 16, 1)).astype(np.float32)
    calib[3, 5, 5, 0], calib[150, 9, 2, 0] = 60.0, -60.0  # two glitch pixels among 51,200 values
    np.save(d / "calib.npy", calib)
    np.save(d / "clean.npy", rng.standard_normal((120, 16, 16, 1)).astype(np.float32))
    return d


@pytest.fixture(scope="module")
def comparison(outlier):
    return compare_calibrations(outlier / "outlier.keras", str(outlier / "calib.npy"), data=outlier / "clean.npy",
                                samples=120)


def test_outlier_model_clipping_beats_minmax(comparison):
    rows = {r["method"]: r for r in comparison.rows}
    assert list(rows) == ["minmax", "percentile:99.99", "mse", "entropy"]
    assert comparison.metric == "sqnr" and comparison.samples == 120
    minmax = rows.pop("minmax")
    best = max(rows.values(), key=lambda r: r["sqnr_db"])
    # measured: min/max 32.1 dB, percentile 38.1 dB, entropy 43.0 dB
    assert best["sqnr_db"] > minmax["sqnr_db"] + 6.0
    assert comparison.best == best["method"] and best["best"] and not minmax["best"]
    assert comparison.tflite == comparison.models[best["method"]]
    assert minmax["clipped_tensors"] == 0 and best["clipped_tensors"] >= 3
    for r in comparison.rows:
        assert r["accuracy"] is None and r["top1_agreement"] is not None and 0.99 < r["cosine"] <= 1.0
    data = comparison.to_json()
    assert json.loads(json.dumps(data))["best"] == comparison.best


def test_ranges_reach_the_int8_model(comparison):
    """Every tensor whose scale is free (input, conv, FC, mean outputs) has exactly the method's range."""
    checked = 0
    for method, model in comparison.models.items():
        ranges = comparison.ranges[method]
        g = read_tflite(model)
        free = [op.outputs[0] for op in g.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED", "MEAN")]
        for tid in (*g.inputs, *free):
            t = g.tensor(tid)
            scale, zero_point = K.asymmetric_params(*ranges[t.name])
            assert t.quant.scale == pytest.approx((scale,), rel=1e-6), (method, t.name)
            assert t.quant.zero_point == (zero_point,), (method, t.name)
            checked += 1
    assert checked == 4 * 5
    minmax, entropy = comparison.models["minmax"], comparison.models["entropy"]
    s_minmax = read_tflite(minmax).tensor(read_tflite(minmax).inputs[0]).quant.scale[0]
    s_entropy = read_tflite(entropy).tensor(read_tflite(entropy).inputs[0]).quant.scale[0]
    assert s_minmax > 5 * s_entropy  # min/max spends the input's 256 levels on the glitch


def test_minmax_rewrite_changes_nothing(outlier):
    loaded = load_model(outlier / "outlier.keras")
    cal = load_calibration(outlier / "calib.npy", loaded_inputs(loaded))
    calibrated = mixed.calibrate(loaded, cal)
    stats = K.collect_stats(calibrated, cal.inputs, [K.Method("minmax")])
    same = K.with_ranges(calibrated, K.method_ranges(stats, "minmax"))
    assert mixed.quantize_calibrated(same) == mixed.quantize_calibrated(calibrated)
    recorded = K.calibrated_ranges(calibrated)
    assert {i: (lo, hi) for i, (_, lo, hi) in recorded.items()} == K.method_ranges(stats, "minmax")
    # every value of every sample observed: input 16x16x1, convs 16x16x8, mean 8, dense 10 per sample
    assert sorted(s.count for s in stats.values()) == [200 * 8, 200 * 10, 200 * 256, 200 * 2048, 200 * 2048]


def _model_content(data: bytes):
    """Subgraphs and buffer bytes of a TFLite model (what runs), without its metadata."""
    import pickle

    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    metadata = {md.buffer for md in (m.metadata or [])}
    buffers = [bytes(np.asarray(b.data, np.uint8)) if b.data is not None else b""
               for i, b in enumerate(m.buffers) if i not in metadata]
    return pickle.dumps(m.subgraphs), buffers


def test_quantize_command_path_equals_comparison(outlier, comparison):
    """`edgeq quantize --calibration entropy` (inside converter.convert) = the comparison's entropy model."""
    loaded = load_model(outlier / "outlier.keras")
    cal = load_calibration(outlier / "calib.npy", loaded_inputs(loaded))
    data = quantize(loaded, cal, calibration="entropy")
    assert _model_content(data) == _model_content(comparison.models["entropy"])
    assert _model_content(quantize(loaded, cal)) == _model_content(comparison.models["minmax"])


def test_per_tensor_percentile_digits_bit_exact_in_c():
    r = quantize_model(DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy"), per_channel=False,
                       calibration="percentile:99.9")
    g = read_tflite(r.tflite)
    weights = [g.tensor(op.inputs[1]) for op in g.ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert len(weights) == 6 and all(len(w.quant.scale) == 1 for w in weights)
    assert "percentile:99.9" in r.calibration and "per-tensor" in r.calibration
    z = np.load(DIGITS / "test.npz")
    rep = validate(r.tflite, data=Samples("digits test", [z["x"]], z["y"]), c_host=True, samples=40)
    assert rep.c_host["litert"].bit_exact and rep.c_host["tflm"].bit_exact and rep.samples == 40
    assert rep.accuracy["quantized"] > 0.9


def test_entropy_model_bit_exact_in_c(comparison, outlier):
    x = np.load(outlier / "clean.npy")
    rep = validate(comparison.models["entropy"], data=Samples("clean samples", [x]), c_host=True, samples=30)
    assert rep.c_host["litert"].bit_exact and rep.c_host["litert"].samples == 30


def test_cli_compare_calibrations_on_digits(tmp_path, capsys):
    out, html, js = tmp_path / "best.tflite", tmp_path / "cal.html", tmp_path / "cal.json"
    code = main(["quantize", str(DIGITS / "digits_cnn.keras"), "--calib", str(DIGITS / "calib.npy"), "-o", str(out),
                 "--compare-calibrations", "--data", str(DIGITS / "test.npz"), "--samples", "100",
                 "--html", str(html), "--json", str(js)])
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads(js.read_text())
    rows = report["rows"]
    assert [r["method"] for r in rows] == ["minmax", "percentile:99.99", "mse", "entropy"]
    assert report["metric"] == "accuracy" and report["samples"] == 100 and 0.9 < report["float_accuracy"] <= 1
    best = max(rows, key=lambda r: (r["accuracy"], r["sqnr_db"]))
    assert report["best"] == best["method"] and sum(r["best"] for r in rows) == 1
    for r in rows:
        assert 0.85 < r["accuracy"] <= 1 and r["sqnr_db"] > 20 and r["method"] in text
    assert f"best by accuracy: {report['best']}" in text and out.read_bytes()[4:8] == b"TFL3"
    page = html.read_text()
    assert "calibration methods" in page and "entropy" in page and "data:image/png;base64" in page


@pytest.mark.parametrize("args, message", [
    (["--calibration", "kl"], "unknown calibration method"),
    (["--compare-calibrations", "--metric", "accuracy"], "needs labelled data"),
    (["--compare-calibrations", "--scheme", "int16x8"], "compares int8 models"),
    (["--granularity", "per-row"], "invalid choice"),
    (["--per-tensor", "--granularity", "per-channel"], "contradicts"),
])
def test_cli_errors(outlier, tmp_path, capsys, args, message):
    argv = ["quantize", str(outlier / "outlier.keras"), "--calib", str(outlier / "calib.npy"),
            "-o", str(tmp_path / "x.tflite"), *args]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse rejects the option value itself
        code = e.code
    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert not (tmp_path / "x.tflite").exists()


def test_calibration_needs_the_float_model(tmp_path, comparison, capsys):
    p = tmp_path / "m.tflite"
    p.write_bytes(comparison.models["minmax"])
    code = main(["quantize", str(p), "--calib", "random", "-o", str(tmp_path / "y.tflite"), "--calibration", "mse"])
    assert code == 2 and "needs the float model" in capsys.readouterr().err


def test_two_input_functional_net_with_add_concat_pool(tmp_path):
    """Inputs matched by name (their ranges differ 10x), ADD / CONCATENATION / AVERAGE_POOL_2D tensors
    observed, and the clipped model still bit-exact in C."""
    import keras

    keras.utils.set_random_seed(1)
    a, b = keras.Input((8, 8, 2), name="a"), keras.Input((8, 8, 2), name="b")
    ca = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(a)
    cb = keras.layers.Conv2D(4, 3, padding="same")(b)
    x = keras.layers.Concatenate()([keras.layers.Add()([ca, cb]), cb])
    x = keras.layers.AveragePooling2D(2)(x)
    out = keras.layers.Dense(5)(keras.layers.Flatten()(x))
    keras.Model([a, b], out).save(tmp_path / "two.keras")
    rng = np.random.default_rng(0)
    xa, xb = rng.random((60, 8, 8, 2), np.float32), 10 * rng.random((60, 8, 8, 2), np.float32)
    xb[7, 3, 3, 1] = 200.0  # one outlier in b
    np.savez(tmp_path / "calib.npz", a=xa, b=xb)

    loaded = load_model(tmp_path / "two.keras")
    cal = load_calibration(tmp_path / "calib.npz", loaded_inputs(loaded))
    calibrated = mixed.calibrate(loaded, cal)
    stats = K.collect_stats(calibrated, cal.inputs, K.all_methods(), input_names=loaded.input_names)
    for s in stats.values():  # what we observed is what the converter's calibration recorded
        assert float(s.top.max()) == pytest.approx(s.amax, rel=1e-5), s.name
    kinds = {op.kind for op in read_tflite(calibrated).ops}
    assert {"ADD", "CONCATENATION", "AVERAGE_POOL_2D"} <= kinds

    c = compare_calibrations(tmp_path / "two.keras", str(tmp_path / "calib.npz"), samples=30,
                             methods=["minmax", "percentile:99.9", "entropy"])
    assert c.rows[0]["clipped_tensors"] == 0 and all(r["clipped_tensors"] > 0 for r in c.rows[1:])
    g = read_tflite(c.models["percentile:99.9"])
    b_scale = next(g.tensor(t).quant.scale[0] for t in g.inputs if "b" in g.tensor(t).name)
    assert b_scale < 20 / 255  # the outlier (200) clipped: b's range is about [0, 10]
    rep = validate(c.models["percentile:99.9"], c_host=True, samples=10)
    assert rep.c_host["litert"].bit_exact and rep.c_host["tflm"].bit_exact


def test_patched_quantizer_must_be_used():
    from tensorflow.lite.python import lite

    original = lite._mlir_quantize
    with pytest.raises(EdgeqError, match="did not run its MLIR quantizer"), K.patched_quantizer(lambda m: m):
        assert lite._mlir_quantize is not original
    assert lite._mlir_quantize is original
