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


@pytest.mark.parametrize("argv, message", [
    (["--clusters", "300"], "--clusters 300 is out of range"),
    (["--clusters-per-channel"], "--clusters-per-channel needs --clusters K"),
    (["--clusters", "16", "--scheme", "int16x8"], "--clusters applies to the int8 scheme"),
    (["--clusters", "16", "--max-drop", "1%"], "--clusters is not taken with"),
    (["--scheme", "int8x4", "--calibration", "nonsense"], "nonsense"),
])
def test_user_errors(argv, message, tmp_path, capsys):
    code, _, err = run(capsys, "quantize", DIGITS / "digits_cnn.keras", "--calib", DIGITS / "calib.npy",
                       "-o", tmp_path / "x.tflite", *argv)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "x.tflite").exists()
