"""`edgeq analyze`: per-layer quantization error and the single-layer-float ranking."""

import math

import numpy as np
import pytest
from paths import MLPERF, REPO
from sensitivity_models import PLANTED, planted_model

from edgeq.quality.sensitivity import analyze, open_session
from edgeq.cli.main import main
from edgeq.files import cache_dir

DIGITS = REPO / "examples" / "digits"


@pytest.fixture(scope="module")
def planted():
    return planted_model(cache_dir() / "sensitivity-planted")


@pytest.fixture(scope="module")
def digits_analysis():
    return analyze(DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy"), data=str(DIGITS / "test.npz"),
                   samples=120)


def test_planted_layer_ranks_first(planted):
    """The layer built to quantize badly is the costliest, by far, and keeping it float recovers the model."""
    model, calib = planted
    a = analyze(model, str(calib), samples=60)
    worst = a.ranking[0]
    assert PLANTED in worst["name"] and worst["kind"] == "FULLY_CONNECTED"
    assert worst["gain_db"] > 20, worst  # only this op in float32: the output SQNR jumps
    assert worst["added_db"] > 20, worst  # and the error appears at this op, not before it
    others = [r for r in a.ranking[1:] if r["gain_db"] is not None]
    assert others and all(r["gain_db"] < 3 for r in others), others
    assert a.output["sqnr_db"] < 15 and worst["float_sqnr_db"] > 30
    assert a.metric == "agreement" and a.output["agreement"] < 0.9


def test_per_layer_error_matches_the_output(digits_analysis):
    """The last op's accumulated error (intermediate tensors of two interpreters matched by name) is the
    model output's error measured separately, and every layer is plausible for a trained model."""
    a = digits_analysis
    kinds = [r["kind"] for r in a.layers]
    assert kinds == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MEAN",
                     "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"]
    assert [r["op"] for r in a.layers] == list(range(9))
    assert 0 < a.layers[0]["added_db"] < 20  # measured against the int8 input's own quantization error
    last = a.layers[-1]
    assert last["sqnr_db"] == pytest.approx(a.output["sqnr_db"], abs=1e-6)
    assert last["rmse"] == pytest.approx(a.output["rmse"], rel=1e-6)
    for r in a.layers:
        assert r["quantized"] and r["dtype"] == "int8"
        assert 20 < r["sqnr_db"] < 80, r
        assert 0 < r["rmse_lsb"] < 3, r  # a trained model's tensors are off by about an LSB, not more
        assert r["scale"] > 0
    # MAX_POOL_2D and SOFTMAX must share their input's / a fixed scale: the quantizer keeps them int8
    assert {r["kind"] for r in a.layers if r["keepable"] is False} == {"MAX_POOL_2D", "SOFTMAX"}
    assert a.metric == "accuracy" and a.output["float_accuracy"] > 0.9
    assert abs(a.output["drop"]) < 0.03


def test_int8_model_is_the_quantize_commands(digits_analysis):
    """The analysis quantizes through calibrate + mlir_quantize; its int8 model computes exactly what
    `edgeq quantize` writes (same ops, weights and scales)."""
    from edgeq.api import quantize_model
    from edgeq.quality.references import LiteRT

    s = open_session(DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy"), samples=5)
    ours = s.quantized()
    theirs = quantize_model(DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy")).tflite
    assert abs(len(ours) - len(theirs)) < 64
    a, b = LiteRT(ours), LiteRT(theirs)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.integers(-128, 128, (1, 8, 8, 1)).astype(np.int8)
        assert a.run(x)[0].tobytes() == b.run(x)[0].tobytes()


def test_cli_analyze_resnet8_html(tmp_path, capsys):
    """The issue's done-when: resnet8 with random calibration gives the ranking and the HTML plots."""
    import json

    html, js = tmp_path / "r.html", tmp_path / "r.json"
    code = main(["analyze", str(MLPERF / "resnet8.h5"), "--calib", "random", "--random-range", "0,255",
                 "--random-count", "20", "--samples", "12", "--html", str(html), "--json", str(js)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "costliest first" in out.out and "CONV_2D" in out.out
    assert "NOT representative" in out.err
    page = html.read_text()
    assert page.count("data:image/png;base64,") == 2 and "single-layer float sensitivity" in page
    rep = json.loads(js.read_text())
    convs = [r for r in rep["layers"] if r["kind"] == "CONV_2D"]
    assert len(convs) == 9 and len(rep["layers"]) == 15
    assert rep["ranking"][0] in {r["name"] for r in rep["layers"]}
    gains = {r["name"]: r["gain_db"] for r in rep["layers"]}
    ranked = [gains[n] for n in rep["ranking"] if gains[n] is not None]
    assert ranked == sorted(ranked, reverse=True)
    assert all(math.isfinite(r["sqnr_db"]) for r in rep["layers"])


def test_cli_analyze_errors(tmp_path, capsys):
    code = main(["analyze", str(MLPERF / "resnet8_int8.tflite"), "--calib", "random"])
    err = capsys.readouterr().err
    assert code == 2 and "needs the float model" in err and "Traceback" not in err
    code = main(["analyze", str(DIGITS / "digits_cnn.keras"), "--calib", str(tmp_path / "missing.npy")])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" in err
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 5, 5, 1), np.float32))
    code = main(["analyze", str(DIGITS / "digits_cnn.keras"), "--calib", str(DIGITS / "calib.npy"),
                 "--data", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "(5, 5, 1)" in err and "(8, 8, 1)" in err
