"""`--scheme weight-only` (int8 weights, float32 activations) and TFLite dynamic-range ("hybrid") models.

The reference is LiteRT running the weight-only .tflite (DEQUANTIZE of each int8 weight, then the float
kernels); the generated C must be within edgeq.quality.compare.FLOAT_RTOL of it (its weighted ops are bit
for bit the reference's, tests/kernels/test_weight_only_kernels.py), keep the weights int8 in model_data.c
with no float copy, and is refused on a board without an FPU unless the user allows soft float.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from paths import MLPERF, REPO

from edgeq.api import quantize_model
from edgeq.cli.main import main
from edgeq.errors import EdgeqError
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.flows.generate import generate_c
from edgeq.flows.quantize import HYBRID_NOTE
from edgeq.frontend.tflite.kind import tflite_scheme
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import FLOAT_RTOL, float_error
from edgeq.quality.references import LiteRT
from edgeq.quality.validate import validate

DIGITS = REPO / "examples" / "digits"
MODEL = DIGITS / "digits_cnn.keras"  # Conv2D, DepthwiseConv2D, Dense


@pytest.fixture(scope="module")
def digits():
    return {g: quantize_model(MODEL, None, scheme="weight-only", per_channel=g == "per-channel")
            for g in ("per-channel", "per-tensor")}


@pytest.fixture(scope="module")
def hybrid_path(tmp_path_factory):
    import tensorflow as tf

    from edgeq.frontend.runtime import import_keras

    converter = tf.lite.TFLiteConverter.from_keras_model(import_keras().models.load_model(MODEL))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
    path = tmp_path_factory.mktemp("hybrid") / "digits_hybrid.tflite"
    path.write_bytes(converter.convert())
    return path


def _weights(model: bytes) -> list:
    g = read_tflite(model)
    return [g.tensor(op.inputs[0]) for op in g.ops if op.kind == "DEQUANTIZE"]


def _arrays(lib_dir) -> list[tuple[str, int]]:
    """(C type, element count) of every constant array in model_data.c."""
    text = (lib_dir / "model_data.c").read_text()
    return [(t, int(n)) for t, n in re.findall(r"^const (\w+) \w+\[(\d+)\]", text, re.MULTILINE)]


@pytest.mark.parametrize("granularity", ["per-channel", "per-tensor"])
def test_weight_only_digits_in_c_within_tolerance_with_int8_weights(digits, granularity, tmp_path):
    r = digits[granularity]
    assert r.scheme == "weight-only" and tflite_scheme(r.tflite) == "weight-only"
    assert "weight-only" in r.calibration and granularity in r.calibration and not r.unsupported
    weights = _weights(r.tflite)
    assert len(weights) == 6 and all(w.dtype == "int8" for w in weights)
    assert all(w.quant.per_channel == (granularity == "per-channel") for w in weights)
    rep = validate(r.tflite, name="digits_wo", c_host=True, samples=20)
    assert rep.ok and rep.c_host["litert"].float_outputs >= 1, rep.c_host["litert"].float_summary()
    if granularity == "per-channel":  # TFLM's DEQUANTIZE takes one scale per tensor
        assert "per-channel" in rep.c_host_skipped["tflm"]
    else:
        assert rep.c_host["tflm"].ok
    lib = generate_c(r.tflite, tmp_path / "lib")
    arrays = _arrays(lib.dir)
    # every weight is an int8 array; no float array holds as many values as any weight tensor
    int8_sizes = sorted(n for t, n in arrays if t == "int8_t")
    assert sorted(w.numel for w in weights) == int8_sizes
    assert not {n for t, n in arrays if t == "float"} & set(int8_sizes), arrays


def test_weight_only_resnet8_within_tolerance():
    r = quantize_model(MLPERF / "resnet8.h5", None, scheme="weight-only")
    assert r.scheme == "weight-only" and r.float_bytes > 3 * len(r.tflite)
    rep = validate(r.tflite, name="resnet8_wo", c_host=True, samples=4)
    cmp = rep.c_host["litert"]
    assert rep.ok and cmp.float_max_rel_diff <= FLOAT_RTOL, cmp.float_summary()


def test_cli_quantize_weight_only(tmp_path, capsys):
    out = tmp_path / "wo.tflite"
    assert main(["quantize", str(MODEL), "--scheme", "weight-only", "--per-tensor", "-o", str(out)]) == 0
    assert tflite_scheme(out.read_bytes()) == "weight-only"
    assert not any(w.quant.per_channel for w in _weights(out.read_bytes()))
    # an int8 .tflite is already quantized: refused, naming what it is
    code = main(["quantize", str(MLPERF / "kws_dscnn_int8.tflite"), "--scheme", "weight-only", "-o",
                 str(tmp_path / "x.tflite")])
    err = capsys.readouterr().err
    assert code == 2 and "already quantized (int8)" in err and "hint:" in err


def test_hybrid_model_runs_as_weight_only(hybrid_path):
    """A dynamic-range model: recognised, rewritten with a DEQUANTIZE before each int8 weight (same weights),
    deployed as weight-only with a note; against LiteRT's own hybrid kernels (which also quantize the
    activations) the outputs differ by more than the float tolerance, which is why they are not the
    reference."""
    data = hybrid_path.read_bytes()
    assert tflite_scheme(data) == "hybrid"
    r = quantize_model(hybrid_path, None)
    assert r.scheme == "weight-only" and HYBRID_NOTE in r.notes and tflite_scheme(r.tflite) == "weight-only"
    original = read_tflite(data)
    hybrid_weights = sorted((t.name, t.data.tobytes()) for op in original.ops for t in map(original.tensor, op.inputs)
                            if t.dtype == "int8" and t.is_const)
    assert sorted((w.name, w.data.tobytes()) for w in _weights(r.tflite)) == hybrid_weights
    rep = validate(r.tflite, name="digits_hybrid", c_host=True, samples=20)
    assert rep.ok, rep.c_host["litert"].float_summary()
    x = np.load(DIGITS / "test.npz")["x"][:20].astype(np.float32)
    ours, theirs = LiteRT(r.tflite), LiteRT(data)
    errs = [float_error(ours.run([x[k:k + 1]])[0], theirs.run([x[k:k + 1]])[0])[1] for k in range(len(x))]
    assert max(errs) > FLOAT_RTOL  # LiteRT's hybrid kernels are not the float computation


def test_refused_without_an_fpu_unless_soft_float_is_allowed(tmp_path):
    with pytest.raises(EdgeqError, match="weight-only int8.*mps2-an385 has no FPU") as e:
        convert_and_flash(MODEL, board_name="mps2-an385", scheme="weight-only", out_dir=tmp_path / "refused")
    assert "x the instructions of int8" in " ".join(e.value.detail) and "--allow-soft-float" in e.value.hint
    assert not (tmp_path / "refused").exists()
    r = convert_and_flash(MODEL, board_name="mps2-an385", scheme="weight-only", runs=1, samples=3,
                          out_dir=tmp_path / "soft", allow_soft_float=True)
    assert r.ok and r.model.scheme == "weight-only"


def test_weight_only_on_mps2_an386(tmp_path):
    r = convert_and_flash(MODEL, scheme="weight-only", runs=3, samples=8, out_dir=tmp_path / "out")
    v = r.report["validation"]
    assert r.ok and r.board.name == "mps2-an386" and r.model.scheme == "weight-only" and v["samples"] >= 8, v
    # the image holds the int8 weights (plus float biases and scales), far less than their float32 bytes
    n = sum(w.numel for w in _weights(Path(r.model.tflite).read_bytes()))
    assert n <= r.memory.weights_bytes < 2 * n


def test_quantizer_and_hybrid_rewrite_run_in_the_real_worker(digits, hybrid_path, monkeypatch):
    """Both native steps go through edgeq's worker process (edgeq.isolation), with the same results as in
    this process (the rest of the suite runs calls in-process)."""
    from edgeq import isolation
    from edgeq.frontend.load import load_model
    from edgeq.frontend.tflite.kind import ensure_supported
    from edgeq.frontend.weight_only import weight_only_tflite

    in_process = ensure_supported(load_model(hybrid_path))
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    try:
        assert ensure_supported(load_model(hybrid_path)) == in_process
        from edgeq.frontend.convert import float_tflite_bytes

        wo = weight_only_tflite(float_tflite_bytes(load_model(MODEL)), per_channel=True)
        assert tflite_scheme(wo) == "weight-only"
        assert sorted(w.data.tobytes() for w in _weights(wo)) == sorted(
            w.data.tobytes() for w in _weights(digits["per-channel"].tflite))
    finally:
        isolation.shutdown()
