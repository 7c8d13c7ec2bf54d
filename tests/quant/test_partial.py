"""Partial quantization: `edgeq quantize --keep-float N / --max-drop PCT` leaves the costliest ops float32."""

import json

import numpy as np
import pytest
from paths import REPO
from sensitivity_models import PLANTED, planted_model

from edgeq.quality.sensitivity import quantize_partial
from edgeq.cli.main import main
from edgeq.frontend.partial import float_op_names
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.files import cache_dir

DIGITS = REPO / "examples" / "digits"


@pytest.fixture(scope="module")
def planted():
    return planted_model(cache_dir() / "sensitivity-planted")


def _io_dtypes(model: bytes) -> set[str]:
    g = read_tflite(model)
    return {g.tensor(t).dtype for t in (*g.inputs, *g.outputs)}


def test_max_drop_keeps_only_the_planted_layer(planted):
    """Greedy search: the planted layer goes float first, and that alone meets a 2% budget."""
    model, calib = planted
    p = quantize_partial(model, str(calib), max_drop=0.02, samples=80)
    assert p.metric == "agreement" and p.reached
    assert len(p.kept_float) == 1 and PLANTED in p.kept_float[0]
    assert [s["kept"] for s in p.steps] == [True, True]
    first, last = p.steps
    assert first["drop"] > 0.1 and last["drop"] <= 0.02
    assert last["sqnr_db"] > first["sqnr_db"] + 20
    # the model written: that op computes in float32, everything else int8, I/O int8
    assert float_op_names(p.tflite) == set(p.kept_float)
    assert _io_dtypes(p.tflite) == {"int8"}
    kinds = [op.kind for op in read_tflite(p.tflite).ops]
    assert kinds == ["FULLY_CONNECTED", "DEQUANTIZE", "FULLY_CONNECTED", "QUANTIZE", "FULLY_CONNECTED", "SOFTMAX"]
    # and its top-1 agreement, recomputed here from the float Keras model and LiteRT, is the one reported
    import keras

    from edgeq.quality.validate import FloatLiteRT

    x = np.load(calib)[:80]
    want = keras.models.load_model(model).predict(x, verbose=0).argmax(-1)
    got = FloatLiteRT(p.tflite).run_all([x])[0].argmax(-1)
    assert np.mean(got == want) == pytest.approx(last["agreement"])


def test_keep_float_n_digits_runs_bit_exact_in_c(tmp_path):
    """--keep-float 2 on the digits CNN: the two costliest ops in float32; the generated C (int8 and float32
    kernels, QUANTIZE / DEQUANTIZE at the boundaries) matches LiteRT byte for byte."""
    from edgeq.frontend.data import load_dataset, tflite_inputs
    from edgeq.quality.validate import validate

    p = quantize_partial(DIGITS / "digits_cnn.keras", str(DIGITS / "calib.npy"), keep_float=2,
                         data=str(DIGITS / "test.npz"), samples=150)
    assert p.metric == "accuracy" and len(p.kept_float) == 2 and len(p.steps) == 3
    ranked = [r["name"] for r in p.analysis.ranking if r["keepable"]]
    assert p.kept_float == ranked[:2]
    assert float_op_names(p.tflite) == set(p.kept_float)
    assert _io_dtypes(p.tflite) == {"int8"}
    assert p.steps[-1]["bytes"] == len(p.tflite) > p.steps[0]["bytes"]  # float weights are 4x bigger
    for s in p.steps:
        assert abs(s["drop"]) < 0.03 and s["float_accuracy"] > 0.9
    rep = validate(p.tflite, name="digits_partial", data=load_dataset(DIGITS / "test.npz", tflite_inputs(p.tflite)), c_host=True,
                   samples=20, workdir=tmp_path)
    assert rep.c_host["litert"].bit_exact and rep.c_host["litert"].samples == 20
    assert rep.accuracy["quantized"] > 0.85


def test_cli_keep_float_and_max_drop(planted, tmp_path, capsys):
    model, calib = planted
    out, js = tmp_path / "p.tflite", tmp_path / "p.json"
    code = main(["quantize", str(model), "--calib", str(calib), "--keep-float", "1", "--samples", "40",
                 "-o", str(out), "--json", str(js)])
    o = capsys.readouterr()
    assert code == 0, o.err
    assert "partial quantization" in o.out and "1 op(s) in float32" in o.out
    rep = json.loads(js.read_text())
    assert len(rep["kept_float"]) == 1 and PLANTED in rep["kept_float"][0]
    assert rep["metric"] == "agreement" and len(rep["steps"]) == 2
    assert float_op_names(out.read_bytes()) == set(rep["kept_float"])
    # the mixed model goes on through the other commands: passed through by quantize, C checked by validate
    code = main(["quantize", str(out), "-o", str(tmp_path / "again.tflite")])
    o = capsys.readouterr()
    assert code == 0 and "none (already int8+float32)" in o.out, o.err
    assert (tmp_path / "again.tflite").read_bytes() == out.read_bytes()
    code = main(["validate", str(out), "--c-host", "--samples", "5"])
    o = capsys.readouterr()
    assert code == 0 and "bit-exact: 5/5 samples" in o.out, o.out + o.err
    # --max-drop 0%: the planted layer alone brings every top-1 class back
    code = main(["quantize", str(model), "--calib", str(calib), "--max-drop", "0%", "--samples", "40",
                 "-o", str(out), "--json", str(js)])
    o = capsys.readouterr()
    assert code == 0, o.err
    assert "budget: drop <= 0%" in o.out and "1 op(s) in float32" in o.out and "warning" not in o.err
    rep = json.loads(js.read_text())
    assert rep["reached"] and rep["max_drop"] == 0 and rep["steps"][-1]["drop"] == 0


@pytest.mark.parametrize("argv, message", [
    (["--keep-float", "1", "--max-drop", "1%"], "not both"),
    (["--keep-float", "1", "--scheme", "int16x8"], "not with --scheme int16x8"),
])
def test_cli_partial_errors(planted, tmp_path, capsys, argv, message):
    model, calib = planted
    code = main(["quantize", str(model), "--calib", str(calib), "-o", str(tmp_path / "x.tflite"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.parametrize("value", ["150%", "-1%", "lots"])
def test_cli_max_drop_must_be_a_percentage(planted, tmp_path, capsys, value):
    model, calib = planted
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(model), "--calib", str(calib), "-o", str(tmp_path / "x.tflite"), f"--max-drop={value}"])
    assert e.value.code == 2 and "percentage" in capsys.readouterr().err
