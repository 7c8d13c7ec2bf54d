"""The commands as a user types them, and every user error's message."""

import subprocess
import sys

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("tiny")
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3)(x)
    m = keras.Model(inp, out)
    m.save(d / "tiny.keras")
    np.save(d / "calib.npy", np.random.default_rng(0).random((16, 6, 6, 2), np.float32))
    np.save(d / "calib_bad.npy", np.random.default_rng(0).random((16, 6, 2), np.float32))
    return d


@pytest.fixture(scope="module")
def unsupported_tflite(tmp_path_factory):
    """An int8 model with two ops edgeq has no kernel for (ADD_N, twice), written by hand."""
    from kernels.harness import build_tflite

    q = {"scale": 0.05, "zero_point": 0}
    p = tmp_path_factory.mktemp("unsup") / "unsup.tflite"
    p.write_bytes(build_tflite(
        [dict(shape=[1, 8], dtype="int8", name="x", **q), dict(shape=[1, 8], dtype="int8", name="sum_a", **q),
         dict(shape=[1, 8], dtype="int8", name="sum_b", **q)],
        [("ADD_N", [0, 0], [1], None), ("ADD_N", [1, 0], [2], None)], inputs=[0], outputs=[2]))
    return p


def test_ops_lists_supported(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    for k in ("CONV_2D", "FULLY_CONNECTED", "RESHAPE"):
        assert k in out


def test_quantize_writes_model_and_summary(capsys, tiny_keras, tmp_path):
    out_file = tmp_path / "tiny_int8.tflite"
    code, out, err = run(capsys, "quantize", tiny_keras / "tiny.keras", "--calib", tiny_keras / "calib.npy",
                         "-o", out_file)
    assert code == 0, err
    assert out_file.read_bytes()[4:8] == b"TFL3"
    assert "int8 TFLite size" in out and "MACs / inference" in out and "CONV_2D" in out


def test_quantize_random_calibration_is_loudly_marked(capsys, tiny_keras, tmp_path):
    code, out, err = run(capsys, "quantize", tiny_keras / "tiny.keras", "--calib", "random",
                         "--random-range", "0,1", "-o", tmp_path / "r.tflite")
    assert code == 0
    assert "not representative" in (out + err).lower()


def test_quantize_missing_model(capsys, tmp_path):
    code, _, err = run(capsys, "quantize", tmp_path / "nope.keras", "--calib", "random", "-o", tmp_path / "o.tflite")
    assert code == 2
    assert "nope.keras" in err and "error:" in err
    assert not (tmp_path / "o.tflite").exists()


def test_quantize_wrong_calibration_shape(capsys, tiny_keras, tmp_path):
    code, _, err = run(capsys, "quantize", tiny_keras / "tiny.keras", "--calib", tiny_keras / "calib_bad.npy",
                       "-o", tmp_path / "o.tflite")
    assert code == 2
    assert "(6, 6, 2)" in err and "shape" in err
    assert not (tmp_path / "o.tflite").exists()


def test_quantize_bad_random_range(capsys, tiny_keras, tmp_path):
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(tiny_keras / "tiny.keras"), "--calib", "random", "--random-range", "1,0",
              "-o", str(tmp_path / "o.tflite")])
    assert e.value.code == 2
    assert "LO must be below HI" in capsys.readouterr().err


def test_validate_c_host_reference_model(capsys):
    code, out, _ = run(capsys, "validate", MLPERF / "ad01_int8.tflite", "--c-host", "--samples", "100")
    assert code == 0
    assert "bit-exact: 100/100 samples" in out


def test_validate_rejects_keras_model(capsys, tiny_keras):
    code, _, err = run(capsys, "validate", tiny_keras / "tiny.keras", "--c-host")
    assert code == 2
    assert "quantize it first" in err


def test_validate_missing_data(capsys, tmp_path):
    code, _, err = run(capsys, "validate", MLPERF / "ad01_int8.tflite", "--data", tmp_path / "none.npz")
    assert code == 2
    assert "data file" in err and "none.npz" in err and "does not exist" in err


def test_validate_data_of_wrong_shape(capsys, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((5, 641), np.float32))
    code, _, err = run(capsys, "validate", MLPERF / "ad01_int8.tflite", "--data", tmp_path / "d.npz")
    assert code == 2
    assert "(641,)" in err and "(640,)" in err


def test_generate_lists_all_unsupported_ops_and_writes_nothing(capsys, unsupported_tflite, tmp_path):
    out_dir = tmp_path / "lib"
    code, _, err = run(capsys, "generate", unsupported_tflite, "-o", out_dir)
    assert code == 2
    assert err.count("ADD_N") == 2 and "op #0" in err
    assert not out_dir.exists() and not list(tmp_path.glob(".lib*"))


def test_generate_writes_library(capsys, tmp_path):
    code, out, _ = run(capsys, "generate", MLPERF / "ad01_int8.tflite", "-o", tmp_path / "ad01")
    assert code == 0
    names = {p.name for p in (tmp_path / "ad01").iterdir()}
    assert {"model.h", "model.c", "model_data.c", "Makefile", "CMakeLists.txt", "fully_connected.c"} <= names
    assert "arena" in out


def test_generate_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "generate", tmp_path / "x.tflite", "-o", tmp_path / "o")
    assert code == 2 and "x.tflite" in err


def test_console_script_entry_point():
    r = subprocess.run([str(REPO / ".venv" / "bin" / "edgeq"), "--help"], capture_output=True, text=True)
    if r.returncode != 0:  # not installed as a script here: fall back to the module
        r = subprocess.run([sys.executable, "-m", "edgeq.cli.main", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "quantize" in r.stdout and "validate" in r.stdout
