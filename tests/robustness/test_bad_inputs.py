"""Bad input files, typed at the command line: every case gives one clear message, exit code 2, no traceback,
and writes nothing.

The matrix covers broken TFLite files (truncated, bit-flipped, empty, other formats renamed), broken Keras files
(truncated, garbage, zips without a config, damaged config), missing paths and directories that are not
SavedModels, calibration data of the wrong shape / dtype / keys or with NaN, Inf or no samples, models with
variable or zero-sized dimensions, float and dynamic-range models where int8 is needed, and models with
unsupported ops (all listed at once, with op index and output tensor name, before anything is written).
"""

import io
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from paths import MLPERF, REPO
from edgeq.cli.main import main

AD01 = MLPERF / "ad01_int8.tflite"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_clear_error(code, out, err, *expect):
    """Exit code 2, exactly one `error:` line first, a hint, the expected words, no traceback."""
    text = out + err
    assert code == 2, (code, text)
    assert "Traceback" not in text, text
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, err
    assert lines.index(errors[0]) == len([ln for ln in lines if ln.startswith("[")]), err  # only progress before
    assert "hint:" in err, err
    for word in expect:
        assert word in err, (word, err)


# --------------------------------------------------------------------------------------------- fixtures
def _patched_tflite(data: bytes, edit) -> bytes:
    """Unpack a .tflite with the TFLite schema, let ``edit(model)`` change it, pack it again."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(data, 0))
    edit(model)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _zip(members: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A folder of broken model and data files (all made from real models where that matters)."""
    import keras

    from kernels.harness import build_tflite

    d = tmp_path_factory.mktemp("bad")
    ad = AD01.read_bytes()
    rng = np.random.default_rng(0)
    # --- TFLite
    (d / "truncated.tflite").write_bytes(ad[: len(ad) // 2])
    (d / "header_only.tflite").write_bytes(ad[:64])
    flipped = bytearray(ad)
    for pos in rng.integers(8, 1024, 16):  # flips in the flatbuffer tables (offsets, vtables), not the weights
        flipped[pos] ^= 1 << int(rng.integers(8))
    (d / "bitflip.tflite").write_bytes(bytes(flipped))
    (d / "empty.tflite").write_bytes(b"")
    (d / "image.tflite").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64))
    (d / "archive.tflite").write_bytes(_zip({"model.txt": "not a model"}))

    def dynamic(m):
        m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]].shapeSignature = np.array([-1, -1], np.int32)

    def zero_sized(m):
        t = m.subgraphs[0].tensors[m.subgraphs[0].inputs[0]]
        t.shape = t.shapeSignature = np.array([1, 0], np.int32)

    (d / "dynamic.tflite").write_bytes(_patched_tflite(ad, dynamic))
    (d / "zero.tflite").write_bytes(_patched_tflite(ad, zero_sized))
    import tensorflow as tf

    from edgeq.frontend.runtime import quiet_tf

    dr_in = keras.Input((64,), batch_size=1)
    small = keras.Model(dr_in, keras.layers.Dense(8)(keras.layers.Dense(64, activation="relu")(dr_in)))
    with quiet_tf():  # a float32 .tflite (MLPerf's "kws_dscnn_float32.tflite" has int8 weights: dynamic range)
        (d / "float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(small).convert())
    conv = tf.lite.TFLiteConverter.from_keras_model(small)  # >= 1024 weights: int8
    conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic-range quantization
    with quiet_tf():
        (d / "dynrange.tflite").write_bytes(conv.convert())
    # Two ops without a C kernel (int8 ADD_N: edgeq has no kernel for it) after a
    # supported one, so the op indices in the message are 1 and 2.
    q = {"scale": 0.05, "zero_point": 0}
    (d / "unsupported.tflite").write_bytes(build_tflite(
        [dict(shape=[1, 8], dtype="int8", name="x", **q), dict(shape=[1, 8], dtype="int8", name="relu_out", **q),
         dict(shape=[1, 8], dtype="int8", name="sqdiff_a", **q), dict(shape=[1, 8], dtype="int8", name="sqdiff_b", **q)],
        [("RELU", [0], [1], None), ("ADD_N", [1, 0], [2], None),
         ("ADD_N", [2, 1], [3], None)],
        inputs=[0], outputs=[3]))
    # --- Keras
    h5 = (MLPERF / "ad01.h5").read_bytes()
    (d / "truncated.h5").write_bytes(h5[: len(h5) // 2])
    (d / "garbage.h5").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    kk = (MLPERF / "kws_dscnn.keras").read_bytes()
    (d / "truncated.keras").write_bytes(kk[: len(kk) // 2])
    (d / "garbage.keras").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (d / "noconfig.keras").write_bytes(_zip({"model.weights.h5": b"\0" * 16, "metadata.json": "{}"}))
    (d / "badjson.keras").write_bytes(_zip({"config.json": "{not json", "metadata.json": "{}"}))
    corrupt = bytearray(_zip({"config.json": "{" + '"a": 1, ' * 200 + '"b": 2}'}))
    corrupt[40:60] = b"\xff" * 20  # damage the (stored) member's bytes: its CRC no longer matches
    (d / "badcrc.keras").write_bytes(bytes(corrupt))
    (d / "notsaved").mkdir()
    (d / "notsaved" / "variables.txt").write_text("x")
    # --- a tiny Keras model, its calibration data, broken calibration data
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3)(inp)
    keras.Model(inp, keras.layers.Dense(3)(keras.layers.Flatten()(x))).save(d / "tiny.keras")
    dyn = keras.Input((None, 4))
    keras.Model(dyn, keras.layers.Dense(3)(dyn)).save(d / "dynamic.keras")
    good = rng.random((8, 6, 6, 2)).astype(np.float32)
    np.save(d / "wrong_shape.npy", good.reshape(8, 6, 2, 6))
    np.save(d / "strings.npy", np.array([["a", "b"]] * 3))
    np.save(d / "complex.npy", good.astype(np.complex64))
    np.save(d / "bools.npy", good > 0.5)
    np.save(d / "objects.npy", np.array([{}, 1], dtype=object), allow_pickle=True)
    np.save(d / "nan.npy", np.where(good > 0.9, np.nan, good).astype(np.float32))
    np.save(d / "inf.npy", np.where(good > 0.9, -np.inf, good).astype(np.float32))
    np.save(d / "empty.npy", good[:0])
    np.savez(d / "wrong_keys.npz", a=good, b=good)
    np.savez(d / "no_arrays.npz")
    (d / "truncated.npy").write_bytes((d / "nan.npy").read_bytes()[:200])
    (d / "garbage.npz").write_bytes(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
    (d / "odd.bin").write_bytes(bytes(13))
    (d / "empty.bin").write_bytes(b"")
    (d / "calib.csv").write_text("1,2,3\n")
    np.save(d / "dyn_calib.npy", rng.random((8, 5, 4)).astype(np.float32))
    return d


def _generate(d, name, *expect):
    return (["generate", d / name, "-o", d / "out"], expect, d / "out")


def _validate(d, name, *expect):
    return (["validate", d / name, "--c-host"], expect, None)


def _quantize(d, model, calib, *expect):
    return (["quantize", d / model, "--calib", calib if calib == "random" else d / calib, "-o", d / "o.tflite"],
            expect, d / "o.tflite")


def _convert_and_flash(d, model, *extra_and_expect):
    extra = [a for a in extra_and_expect if isinstance(a, list)]
    expect = [a for a in extra_and_expect if not isinstance(a, list)]
    return (["convert-and-flash", d / model, "--out", d / "cf_out", *(extra[0] if extra else [])], expect,
            d / "cf_out")


CASES = {
    # TFLite files
    "tflite-truncated": lambda d: _generate(d, "truncated.tflite", "truncated.tflite", "could not be read"),
    "tflite-header-only": lambda d: _generate(d, "header_only.tflite", "header_only.tflite"),
    "tflite-bitflips": lambda d: _generate(d, "bitflip.tflite", "bitflip.tflite", "could not be read"),
    "tflite-bitflips-validate": lambda d: _validate(d, "bitflip.tflite", "bitflip.tflite"),
    "tflite-empty": lambda d: _generate(d, "empty.tflite", "empty.tflite", "not a TFLite model"),
    "tflite-is-png": lambda d: _generate(d, "image.tflite", "image.tflite", "not a TFLite model"),
    "tflite-is-zip": lambda d: _generate(d, "archive.tflite", "archive.tflite", "not a TFLite model"),
    "tflite-is-zip-quantize": lambda d: _quantize(d, "archive.tflite", "random", "not a TFLite model"),
    "tflite-dynamic-shape": lambda d: _generate(d, "dynamic.tflite", "variable dimension", "[-1, -1]"),
    "tflite-zero-sized": lambda d: _generate(d, "zero.tflite", "zero-sized"),
    # a float .tflite can't be quantized to int8 (edgeq quantizes Keras / SavedModel files; int8x4 and weight-only
    # take it); a dynamic-range model (int8 weights, float activations) runs as weight-only, but not in int8x4
    "tflite-float-quantize": lambda d: _quantize(d, "float.tflite", "random", "float.tflite", "int8"),
    "tflite-dynamic-range-int16x8": lambda d: (
        ["quantize", d / "dynrange.tflite", "--calib", "random", "--scheme", "int16x8", "-o", d / "o.tflite"],
        ("dynrange.tflite", "already a TFLite model"), d / "o.tflite"),
    "tflite-dynamic-range-int8x4": lambda d: (
        ["quantize", d / "dynrange.tflite", "--calib", "random", "--scheme", "int8x4", "-o", d / "o.tflite"],
        ("dynrange.tflite",), d / "o.tflite"),
    "tflite-unsupported-ops": lambda d: _generate(
        d, "unsupported.tflite", "2 op(s)", "op #1 ADD_N", "op #2 ADD_N", "'sqdiff_a'",
        "'sqdiff_b'"),
    # Keras files and paths
    "h5-truncated": lambda d: _quantize(d, "truncated.h5", "random", "truncated.h5", "damaged HDF5"),
    "h5-garbage": lambda d: _quantize(d, "garbage.h5", "random", "garbage.h5", "not an HDF5 file"),
    "keras-truncated": lambda d: _quantize(d, "truncated.keras", "random", "truncated.keras"),
    "keras-garbage": lambda d: _quantize(d, "garbage.keras", "random", "garbage.keras", "zip"),
    "keras-zip-without-config": lambda d: _quantize(d, "noconfig.keras", "random", "without config.json"),
    "keras-config-not-json": lambda d: _quantize(d, "badjson.keras", "random", "not valid JSON"),
    "keras-damaged-member": lambda d: _quantize(d, "badcrc.keras", "random", "badcrc.keras", "damaged"),
    "path-missing": lambda d: _quantize(d, "missing.keras", "random", "missing.keras", "does not exist"),
    "path-missing-generate": lambda d: _generate(d, "missing.tflite", "missing.tflite"),
    "path-dir-not-savedmodel": lambda d: _quantize(d, "notsaved", "random", "not a TensorFlow SavedModel"),
    "path-unknown-extension": lambda d: _quantize(d, "calib.csv", "random", "unknown model file extension"),
    # calibration data
    "calib-wrong-shape": lambda d: _quantize(d, "tiny.keras", "wrong_shape.npy", "(8, 6, 2, 6)", "(6, 6, 2)"),
    "calib-strings": lambda d: _quantize(d, "tiny.keras", "strings.npy", "dtype <U1"),
    "calib-complex": lambda d: _quantize(d, "tiny.keras", "complex.npy", "complex64"),
    "calib-bool": lambda d: _quantize(d, "tiny.keras", "bools.npy", "dtype bool"),
    "calib-pickled-objects": lambda d: _quantize(d, "tiny.keras", "objects.npy", "objects.npy", "not a readable"),
    "calib-nan": lambda d: _quantize(d, "tiny.keras", "nan.npy", "NaN/Inf", "sample"),
    "calib-inf": lambda d: _quantize(d, "tiny.keras", "inf.npy", "NaN/Inf"),
    "calib-empty": lambda d: _quantize(d, "tiny.keras", "empty.npy", "is empty"),
    "calib-empty-bin": lambda d: _quantize(d, "tiny.keras", "empty.bin", "empty"),
    "calib-wrong-npz-keys": lambda d: _quantize(d, "tiny.keras", "wrong_keys.npz", "['a', 'b']", "'x'"),
    "calib-npz-no-arrays": lambda d: _quantize(d, "tiny.keras", "no_arrays.npz", "(none)"),
    "calib-truncated-npy": lambda d: _quantize(d, "tiny.keras", "truncated.npy", "truncated.npy", "not a readable"),
    "calib-garbage-npz": lambda d: _quantize(d, "tiny.keras", "garbage.npz", "garbage.npz", "not a zip"),
    "calib-bin-partial-sample": lambda d: _quantize(d, "tiny.keras", "odd.bin", "13 bytes", "288 bytes"),
    "calib-unknown-format": lambda d: _quantize(d, "tiny.keras", "calib.csv", "unknown format '.csv'"),
    "calib-missing": lambda d: _quantize(d, "tiny.keras", "missing.npy", "missing.npy", "does not exist"),
    # convert-and-flash: nothing written, not even the --out folder
    "flow-unsupported-ops": lambda d: _convert_and_flash(d, "unsupported.tflite", "op #1 ADD_N",
                                                         "'sqdiff_b'"),
    "flow-bad-calibration": lambda d: _convert_and_flash(d, "tiny.keras", ["--calib", str(d / "nan.npy")],
                                                         "NaN/Inf"),
    "flow-no-calibration": lambda d: _convert_and_flash(d, "tiny.keras", "needs quantizing", "--calib"),
    "flow-truncated-tflite": lambda d: _convert_and_flash(d, "truncated.tflite", "truncated.tflite"),
    # shapes
    "keras-dynamic-shape-random": lambda d: _quantize(d, "dynamic.keras", "random", "variable dimension"),
    "keras-dynamic-shape-data": lambda d: _quantize(d, "dynamic.keras", "dyn_calib.npy", "variable dimension",
                                                    "(None, 4)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, bad, capsys):
    argv, expect, output = CASES[case](bad)
    code, out, err = run(capsys, *argv)
    assert_one_clear_error(code, out, err, *expect)
    if output is not None:
        assert not output.exists(), f"{output} written despite the error"
        assert not [p for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")], "temp left behind"


def test_case_count():
    """The matrix the docs quote (docs/reliability.md, "Input files")."""
    assert len(CASES) >= 40


def test_keras_zero_sized_dimension(capsys, tmp_path):
    """Keras refuses a zero-sized Input itself on some versions; if it saves one, edgeq names the dimension."""
    import keras

    try:
        inp = keras.Input((0, 4))
        keras.Model(inp, keras.layers.Dense(3)(inp)).save(tmp_path / "zero.keras")
    except Exception:  # noqa: BLE001 - nothing to test on a Keras that forbids it
        pytest.skip("this Keras cannot build a zero-sized input")
    code, out, err = run(capsys, "quantize", tmp_path / "zero.keras", "--calib", "random", "-o", tmp_path / "o.tflite")
    assert_one_clear_error(code, out, err, "zero-sized", "(None, 0, 4)")


@pytest.mark.parametrize("argv", [
    ["generate", "{d}/bitflip.tflite", "-o", "{d}/sub_out"],
    ["quantize", "{d}/truncated.h5", "--calib", "random", "-o", "{d}/sub.tflite"],
])
def test_console_script_bad_input(bad, argv):
    """The installed `edgeq` script as a user runs it: exit status 2, one message on stderr, no traceback."""
    exe = REPO / ".venv" / "bin" / "edgeq"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edgeq.cli.main"]
    r = subprocess.run(cmd + [a.format(d=bad) for a in argv], capture_output=True, text=True,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=120)
    assert_one_clear_error(r.returncode, r.stdout, r.stderr)
    assert not (bad / "sub_out").exists() and not (bad / "sub.tflite").exists()
