"""`edgeq quantize --scheme int8x4` and `--clusters K` as a user types them (issue 12): the digits CNN, the
generated C bit-exact with LiteRT, and the user errors, one line each."""

import numpy as np
import pytest

from edgeq.cli.main import main
from edgeq.frontend.tflite.reader import read_tflite
from paths import REPO

DIGITS = REPO / "examples" / "digits"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_int8x4_quantize_then_validate_c_host(tmp_path, capsys):
    out = tmp_path / "d4.tflite"
    code, text, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy",
                          "--scheme", "int8x4", "-o", out)
    assert code == 0, err
    assert "int8x4 TFLite size" in text
    g = read_tflite(out.read_bytes())
    assert {g.tensor(op.inputs[1]).dtype for op in g.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED")} == {"int4"}
    code, text, err = run(capsys, "validate", out, "--c-host", "--samples", "10", "--data", DIGITS / "test.npz")
    assert code == 0, err
    assert "bit-exact: 10/10 samples" in text


def test_clusters_quantize(tmp_path, capsys):
    out = tmp_path / "c16.tflite"
    code, text, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy",
                          "--clusters", "16", "--clusters-per-channel", "-o", out)
    assert code == 0, err
    assert "at most 16 values per output channel" in text
    g = read_tflite(out.read_bytes())
    for op in g.ops:
        if op.kind == "CONV_2D":
            w = g.tensor(op.inputs[1]).data
            assert max(len(np.unique(w[c])) for c in range(w.shape[0])) <= 16



def test_clusters_48_wide_indices_end_to_end(tmp_path, capsys):
    """--clusters 48 marks the written .tflite (the lowerings' opt-in to 6-bit indices): the digits CNN's largest
    conv then runs edgeq_conv_cbw_im2col (DSP) / edgeq_conv_s4 (portable) with 6-bit indices, and the host C is
    bit-exact with LiteRT on real digits."""
    from edgeq.api import lower_tflite

    out = tmp_path / "c48.tflite"
    code, text, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy",
                          "--clusters", "48", "-o", out)
    assert code == 0, err
    assert read_tflite(out.read_bytes()).meta["clusters"] == 48
    for cpu, kernel in (("dsp", "edgeq_conv_cbw_im2col"), ("portable", "edgeq_conv_s4")):
        lows = [op.lowered for op in lower_tflite(out.read_bytes(), "litert", cpu=cpu).ops if op.lowered]
        assert [(low.kernel, dict(low.fields)["cb_bits"]) for low in lows if "cb_bits" in dict(low.fields)
                and dict(low.fields)["cb_bits"]] == [(kernel, 6)], cpu
    code, text, err = run(capsys, "validate", out, "--c-host", "--samples", "20", "--data", DIGITS / "test.npz")
    assert code == 0, err
    assert "bit-exact: 20/20 samples" in text


@pytest.mark.parametrize("argv, message", [
    (["--clusters", "300"], "--clusters 300 is out of range"),
    (["--clusters-per-channel"], "--clusters-per-channel needs --clusters K"),
    (["--clusters", "16", "--scheme", "int8x4"], "--clusters applies to the int8 and int16x8 schemes"),
    (["--clusters", "16", "--max-drop", "1%"], "--clusters is not taken with"),
    (["--scheme", "int8x4", "--calibration", "nonsense"], "nonsense"),
    (["--scheme", "int16x8", "--max-drop", "1%"], "not with --scheme int16x8"),
])
def test_user_errors(argv, message, tmp_path, capsys):
    code, _, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy",
                       "-o", tmp_path / "x.tflite", *argv)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.tflite").exists()


def test_int8x4_analyze_then_partial_with_int8_weights_back(tmp_path, capsys):
    """`analyze --scheme int8x4`: per-layer SQNR of the int8x4 model against the float model, what the 4 bits cost
    (the same model with every weight int8), the gain of giving one layer its int8 weights back; then
    `quantize --scheme int8x4 --keep-float 1` gives the costliest layer int8 weights, the rest int4, bit-exact in C."""
    import json

    from edgeq.frontend.int4 import INT4_KINDS, int8_weight_ops, int8x4_problems

    data = tmp_path / "eval.npz"
    z = np.load(DIGITS / "test.npz")
    np.savez(data, x=z["x"][:40], y=z["y"][:40])
    code, text, err = run(capsys, "analyze", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy", "--data",
                          data, "--scheme", "int8x4", "--json", tmp_path / "an.json")
    assert code == 0, err
    assert "given its int8 weights back" in text and "4-bit cost" in text
    an = json.loads((tmp_path / "an.json").read_text())
    assert an["scheme"] == "int8x4"
    weighted = [r for r in an["layers"] if r["kind"] in INT4_KINDS]
    assert len(weighted) == 6 and all(r["keepable"] and r["gain_db"] is not None for r in weighted)
    assert not any(r["keepable"] for r in an["layers"] if r["kind"] not in INT4_KINDS)
    assert all(r["int8_sqnr_db"] is not None for r in weighted)
    out = weighted[-1]  # the logits: 4-bit weights cost output SQNR
    assert out["int8_sqnr_db"] > out["sqnr_db"] and out["int4_cost_db"] > 0
    best = max(weighted, key=lambda r: r["gain_db"])

    tfl = tmp_path / "p4.tflite"
    code, text, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy", "--data",
                          data, "--scheme", "int8x4", "--keep-float", "1", "-o", tfl, "--json", tmp_path / "p.json")
    assert code == 0, err
    assert "1 layer(s) with int8 weights, the rest int4" in text
    p = json.loads((tmp_path / "p.json").read_text())
    assert p["scheme"] == "int8x4" and p["kept_int8_weights"] == [best["name"]]
    model = tfl.read_bytes()
    assert int8_weight_ops(model) == {best["name"]} and not int8x4_problems(model, [best["name"]])
    code, text, err = run(capsys, "validate", tfl, "--c-host", "--samples", "10", "--data", DIGITS / "test.npz")
    assert code == 0 and "bit-exact: 10/10 samples" in text, err
