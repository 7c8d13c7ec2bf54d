"""Pathological models as users have them: untrained weights with vanishing activations, all-zero layers, NaN
and Inf weights, zero-sized layers, enormous layers. Each command ends in success or one `error:` with exit 2
(never a signal, never a traceback); where LiteRT's reference runs the model, the generated C matches it byte
for byte, and where the reference would abort the process (SOFTMAX input scale at or below 2^-26, an ADD output
multiplier reaching 1), edgeq says so in one line before loading it (edgeq/quality/preflight.py).

Every model is small except the enormous layer (4.6 M weights, refused by the fit estimate before building).
"""

import numpy as np
import pytest

from edgeq.cli.main import main
from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.preflight import check_references_can_run, reference_limits
from edgeq.quality.references import TFLM, LiteRT
from edgeq.quality.validate import validate


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_error(code, out, err, *expect):
    text = out + err
    assert code == 2, (code, text)
    assert "Traceback" not in text, text
    assert len([ln for ln in err.splitlines() if ln.startswith("error:")]) == 1, err
    assert "hint:" in err, err
    for word in expect:
        assert word in err, (word, err)


def assert_ok(code, out, err):
    assert code == 0, out + err
    assert "Traceback" not in out + err and "error:" not in err, out + err


def with_scales(model: bytes, kind: str, which: str, value: float) -> bytes:
    """``model`` with the scale of the first ``kind`` op's input 0 (``which`` "in") or output ("out") set."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    m = s.ModelT.InitFromObj(s.Model.GetRootAsModel(model, 0))
    sg = m.subgraphs[0]
    for op in sg.operators:
        code = m.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) == getattr(s.BuiltinOperator, kind):
            sg.tensors[op.inputs[0] if which == "in" else op.outputs[0]].quantization.scale = [value]
            break
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The Keras files (written once) and their int8 conversions (made by the tests through `quantize`)."""
    from robustness.pathological_models import write_pathological

    return write_pathological(tmp_path_factory.mktemp("patho"))


def quantized(d, stem: str) -> bytes:
    """``stem``.keras quantized with random calibration (once per test process)."""
    from edgeq.flows.quantize import quantize_model

    path = d / f"{stem}.tflite"
    if not path.exists():
        path.write_bytes(quantize_model(d / f"{stem}.keras", "random").tflite)
    return path.read_bytes()


# ------------------------------------------------------------------ vanishing activations before a softmax
def test_vanishing_softmax_is_named_before_any_reference_runs(models, capsys):
    d = models
    code, out, err = run(capsys, "quantize", d / "vanishing.keras", "--calib", "random", "-o", d / "vanishing.tflite")
    assert_ok(code, out, err)
    assert "cannot run op #" in out and "SOFTMAX" in out and "2^-26" in out, out  # one note in the summary
    code, out, err = run(capsys, "validate", d / "vanishing.tflite", "--c-host", "--samples", "3")
    assert_one_error(code, out, err, "SOFTMAX", "input scale", "1.49e-08", "abort", "recalibrate")
    code, out, err = run(capsys, "generate", d / "vanishing.tflite", "-o", d / "vanishing_lib")
    assert_one_error(code, out, err, "SOFTMAX", "too small")
    assert not (d / "vanishing_lib").exists()
    code, out, err = run(capsys, "convert-and-flash", d / "vanishing.keras", "--calib", "random",
                         "--out", d / "vanishing_fw")
    assert_one_error(code, out, err, "SOFTMAX", "1.49e-08")
    assert not (d / "vanishing_fw").exists()
    tfl = (d / "vanishing.tflite").read_bytes()
    (limit,) = reference_limits(read_tflite(tfl))
    assert limit.kind == "SOFTMAX"
    for ref in (LiteRT, TFLM):  # the interpreters themselves refuse instead of aborting
        with pytest.raises(EdgeqError, match="SOFTMAX"):
            ref(tfl)


@pytest.mark.parametrize("in_scale,runs", [
    (2.0 ** -26, False),                        # beta * scale * 2^26 == 1: LiteRT and TFLM abort
    (float(np.nextafter(np.float32(2.0 ** -26), np.float32(1))), True),   # the next float32 up: they run
    (2.0 ** -25, True), (3e-8, True),
])
def test_softmax_scale_at_the_limit(models, in_scale, runs):
    tfl = with_scales(quantized(models, "vanishing"), "SOFTMAX", "in", in_scale)
    if not runs:
        with pytest.raises(EdgeqError, match="at or below the limit"):
            check_references_can_run(tfl)
        return
    check_references_can_run(tfl)
    rep = validate(tfl, c_host=True, samples=4)  # generated C vs LiteRT and TFLM, byte for byte
    assert rep.c_host["litert"].ok and rep.c_host["tflm"].ok, rep.to_json()


def test_add_output_scale_at_the_limit(models, capsys):
    d = models
    base = quantized(d, "add")
    g = read_tflite(base)
    add = next(op for op in g.ops if op.kind == "ADD")
    s_in = max(float(np.float32(g.tensor(t).quant.scale[0])) for t in add.inputs)
    limit = 2 * s_in / 2 ** 20
    below = with_scales(base, "ADD", "out", limit)
    (d / "add_below.tflite").write_bytes(below)
    code, out, err = run(capsys, "validate", d / "add_below.tflite", "--c-host", "--samples", "2")
    assert_one_error(code, out, err, "ADD", "output scale", "2^20")
    above = with_scales(base, "ADD", "out", limit * (1 + 1e-6))
    rep = validate(above, c_host=True, samples=4)
    assert rep.c_host["litert"].ok and rep.c_host["tflm"].ok, rep.to_json()


# ------------------------------------------------------------------ all-zero layers
def test_all_zero_layers_run_bit_exact(models, capsys):
    d = models
    code, out, err = run(capsys, "quantize", d / "zeros.keras", "--calib", "random", "-o", d / "zeros.tflite")
    assert_ok(code, out, err)
    code, out, err = run(capsys, "validate", d / "zeros.tflite", "--c-host", "--samples", "3")
    assert_ok(code, out, err)
    rep = validate((d / "zeros.tflite").read_bytes(), c_host=True, samples=3)
    assert rep.c_host["litert"].ok and rep.c_host["tflm"].ok
    code, out, err = run(capsys, "generate", d / "zeros.tflite", "-o", d / "zeros_lib")
    assert_ok(code, out, err)


# ------------------------------------------------------------------ NaN / Inf weights, zero-sized layers
@pytest.mark.parametrize("name,words", [
    ("nan.keras", ("NaN", "[0, 0]")), ("nan.h5", ("NaN", "[0, 0]")),
    ("inf.keras", ("Inf", "[1, 2]")), ("inf.h5", ("Inf", "[1, 2]")),
])
def test_nonfinite_weights(models, capsys, name, words):
    d = models
    code, out, err = run(capsys, "quantize", d / name, "--calib", "random", "-o", d / f"{name}.tflite")
    assert_one_error(code, out, err, "non-finite weights", "hidden", *words)
    assert not (d / f"{name}.tflite").exists()
    code, out, err = run(capsys, "convert-and-flash", d / name, "--calib", "random", "--out", d / f"{name}_fw")
    assert_one_error(code, out, err, "non-finite weights", "hidden")
    assert not (d / f"{name}_fw").exists()
    if name == "nan.keras":  # analyze too (it ended in success on NaN weights: found by the sweep)
        code, out, err = run(capsys, "analyze", d / name, "--calib", "random", "--samples", "4", "--no-single-float")
        assert_one_error(code, out, err, "non-finite weights", "hidden", *words)


def test_zero_sized_layer(models, capsys):
    d = models
    code, out, err = run(capsys, "quantize", d / "zero_units.keras", "--calib", "random", "-o", d / "zu.tflite")
    assert_one_error(code, out, err, "zero_units.keras")
    assert not (d / "zu.tflite").exists()


# ------------------------------------------------------------------ enormous layers
def test_enormous_layer_is_refused_before_building(tmp_path, capsys):
    from robustness.pathological_models import write_huge

    write_huge(tmp_path / "huge.keras")  # 4.6 MB of int8 weights
    code, out, err = run(capsys, "convert-and-flash", tmp_path / "huge.keras", "--calib", "random", "--board",
                         "netduinoplus2", "--out", tmp_path / "fw")  # 1 MiB of flash, no external memory
    assert_one_error(code, out, err, "does not fit", "flash")
    assert not (tmp_path / "fw").exists()


def test_conversion_needing_more_memory_than_available_is_refused(models, capsys, monkeypatch, tmp_path):
    """The 67 M-weight Dense (4096 x 16384) took 4.5 GB to quantize: a model needing more than the machine has
    is refused before TensorFlow starts (rather than killed by the OOM killer). Simulated here with 100 MB."""
    from edgeq.frontend import convert

    monkeypatch.setattr(convert, "available_memory", lambda: 100 << 20)
    code, out, err = run(capsys, "quantize", models / "zeros.keras", "--calib", "random", "-o", tmp_path / "z.tflite")
    assert_one_error(code, out, err, "needs about 1.0 GB of memory", "weights", "0.1 GB are available")
    assert "EDGEQ_MEMORY_CHECK=off" in err and not (tmp_path / "z.tflite").exists()
    monkeypatch.setenv("EDGEQ_MEMORY_CHECK", "off")
    code, out, err = run(capsys, "quantize", models / "zeros.keras", "--calib", "random", "-o", tmp_path / "z.tflite")
    assert_ok(code, out, err)
    monkeypatch.delenv("EDGEQ_MEMORY_CHECK")
    monkeypatch.setattr(convert, "available_memory", lambda: 64 << 30)
    assert convert.BASE_BYTES + convert.BYTES_PER_WEIGHT * 67_125_248 < 64 << 30  # the measured model passes


def test_analyze_refuses_recurrent_layers_in_one_line(capsys, tmp_path):
    """`analyze` on an LSTM model: the plain converter's calibration segfaulted (the worker turned it into an
    error; found by the sweep); now one line names the layers before any conversion."""
    import keras

    inp = keras.Input((5, 3), batch_size=1)
    keras.Model(inp, keras.layers.Dense(2)(keras.layers.LSTM(4, name="lstm")(inp))).save(tmp_path / "lstm.keras")
    code, out, err = run(capsys, "analyze", tmp_path / "lstm.keras", "--calib", "random", "--samples", "4")
    assert_one_error(code, out, err, "recurrent layers", "lstm", "edgeq quantize")
