"""Issue 16, isolation: every native call runs in edgeq's worker process (edgeq.isolation), so a crash there
is one `error:` line naming the stage, the tool and the layer or op, with a hint, exit status 2, and nothing
written; --verbose shows the worker's output; a hung call times out.

These tests run the real worker (EDGEQ_ISOLATION=process; the rest of the suite runs calls in-process, see
tests/conftest.py). A crash is planted by redirecting one call of edgeq's to a function or class of
tests/tools/crashers.py, which dies in native code (SIGSEGV from a NULL read, SIGABRT from abort()); the
generated C crash is a real NULL write compiled into a kernel.
"""

import os
import re

import numpy as np
import pytest

from edgeq import isolation
from edgeq.cli.main import main
from edgeq.errors import EdgeqError


@pytest.fixture(autouse=True)
def real_worker(monkeypatch):
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    yield
    isolation.set_verbose(False)
    isolation.shutdown()


def redirect(monkeypatch, targets: dict[str, str]) -> None:
    """Make the worker run ``targets[t]`` where edgeq asks it to run ``t`` (a call or an object created)."""
    request = isolation._Worker.request

    def rewritten(self, message, *args, **kwargs):
        inner = message[2] if message[0] == "batch" else message
        if inner[0] in ("call", "new") and inner[1] in targets:
            inner = (inner[0], targets[inner[1]], *inner[2:])
            message = (*message[:2], inner) if message[0] == "batch" else inner
        return request(self, message, *args, **kwargs)

    monkeypatch.setattr(isolation._Worker, "request", rewritten)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error(code, err, *expect):
    """Exit status 2, exactly one `error:` line holding ``expect``, a hint, no traceback."""
    assert code == 2, err
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, err
    assert any(line.startswith("hint:") for line in lines), err
    assert "Traceback" not in err
    for word in expect:
        assert word in errors[0], (word, errors[0])
    kept = re.search(r"its output is kept in (\S+);", err)
    if kept:  # a crashed worker's log is kept for the user; not for the test
        os.unlink(kept[1])
    return errors[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A Keras model (conv, dense, softmax), its calibration data and its int8 .tflite."""
    import keras

    from kernels.harness import int8_tflite

    d = tmp_path_factory.mktemp("iso")
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Flatten()(x)
    m = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(x))
    m.save(d / "tiny.keras")
    np.save(d / "calib.npy", np.random.default_rng(0).random((8, 6, 6, 2), np.float32))
    (d / "tiny.tflite").write_bytes(int8_tflite(m))
    return d


def test_calls_really_run_in_another_process():
    """The out-of-process path is real: another pid, results and exceptions come back as they were."""
    assert isolation.call("os:getpid", stage="a test", tool="os") != os.getpid()
    arr = isolation.call("numpy:arange", 5, stage="a test", tool="numpy")
    assert isinstance(arr, np.ndarray) and arr.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="invalid literal"):
        isolation.call("builtins:int", "x", stage="a test", tool="int")
    with pytest.raises(EdgeqError, match="does not exist") as e:
        isolation.call("edgeq.frontend.load:load_model", "/nonexistent.keras", stage="a test", tool="Keras")
    assert type(e.value) is EdgeqError and e.value.hint
    seen = []
    assert isolation.call("edgeq.isolation:report", "hi", stage="a test", tool="t", on_report=seen.append) is None
    assert seen == ["hi"]


def test_crash_then_a_fresh_worker():
    with pytest.raises(isolation.WorkerCrashed, match=r"the tool crashed \(SIGSEGV\) during a test") as e:
        isolation.call("tests.tools.crashers:segfault", stage="a test", tool="the tool")
    os.unlink(e.value.log)
    with pytest.raises(isolation.WorkerCrashed, match=r"SIGABRT") as e:
        isolation.call("tests.tools.crashers:abort", stage="a test", tool="the tool")
    os.unlink(e.value.log)
    assert isolation.call("operator:add", 2, 3, stage="a test", tool="t") == 5


def test_converter_crash_names_the_layer(capsys, monkeypatch, tiny, tmp_path):
    redirect(monkeypatch, {"edgeq.frontend.convert:convert_here": "tests.tools.crashers:converter_crash"})
    out = tmp_path / "o.tflite"
    code, _, err = run(capsys, "quantize", tiny / "tiny.keras", "--calib", tiny / "calib.npy", "-o", out)
    line = one_error(code, err, "the TFLite converter crashed (SIGSEGV)", "int8 quantization",
                     "functional_1/dense_1/MatMul")
    assert "tiny.keras" in line
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_export_crash(capsys, monkeypatch, tiny, tmp_path):
    """TensorFlow tracing and saving the batch-1 SavedModel runs in the worker too (the model sent pickled)."""
    redirect(monkeypatch, {"edgeq.frontend.convert:export_batch1_here": "tests.tools.crashers:loader_abort"})
    out = tmp_path / "o.tflite"
    code, _, err = run(capsys, "quantize", tiny / "tiny.keras", "--calib", tiny / "calib.npy", "-o", out)
    one_error(code, err, "TensorFlow crashed (SIGABRT) during the batch-1 export", "tiny.keras")
    assert list(tmp_path.iterdir()) == []


def test_export_in_the_worker_gives_the_same_model(tiny):
    """The worker's export of the pickled in-memory model converts to the very bytes of the in-process one."""
    from edgeq.frontend.convert import float_tflite_bytes
    from edgeq.frontend.load import load_model

    loaded = load_model(tiny / "tiny.keras")
    worker = float_tflite_bytes(loaded)
    os.environ["EDGEQ_ISOLATION"] = "inprocess"  # the fixture's monkeypatch restores it
    assert float_tflite_bytes(loaded) == worker


def test_qat_training_crash(capsys, monkeypatch, tiny, tmp_path):
    """`edgeq qat`'s training (Keras fit on TensorFlow's kernels) runs in the worker: a crash is one error."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train.npz", x=rng.random((16, 6, 6, 2), np.float32), y=rng.integers(0, 3, 16))
    redirect(monkeypatch, {"edgeq.flows.qat:train_here": "tests.tools.crashers:loader_abort"})
    out = tmp_path / "q.keras"
    code, _, err = run(capsys, "qat", tiny / "tiny.keras", "--data", tmp_path / "train.npz", "-o", out)
    one_error(code, err, "TensorFlow crashed (SIGABRT) during the quantization-aware training", "tiny.keras")
    assert not out.exists()


def test_loader_crash(capsys, monkeypatch, tiny, tmp_path):
    redirect(monkeypatch, {"edgeq.frontend.load:load_model_here": "tests.tools.crashers:loader_abort"})
    code, _, err = run(capsys, "quantize", tiny / "tiny.keras", "--calib", tiny / "calib.npy", "-o",
                       tmp_path / "o.tflite")
    one_error(code, err, "Keras crashed (SIGABRT) during loading", "tiny.keras")
    assert "native says hello" in err  # the tool's last output, as detail
    assert "worker:" not in err and list(tmp_path.iterdir()) == []


def test_verbose_shows_the_worker_output(capsys, monkeypatch, tiny, tmp_path):
    redirect(monkeypatch, {"edgeq.frontend.load:load_model_here": "tests.tools.crashers:loader_abort"})
    code, _, err = run(capsys, "quantize", tiny / "tiny.keras", "--calib", tiny / "calib.npy", "-o",
                       tmp_path / "o.tflite", "--verbose")
    assert "worker: HDF5-DIAG: Error detected in HDF5 (1.14.2): native says hello" in err
    log = re.search(r"its output is kept in (\S+);", err)
    assert log and "native says hello" in open(log[1]).read()
    one_error(code, err, "Keras crashed (SIGABRT)")


def test_litert_crash_reading_a_tflite_file(capsys, monkeypatch, tiny, tmp_path):
    """A .tflite file is read by LiteRT only in the worker (tflite_interpreter: loading, int8_problems,
    model_ops)."""
    redirect(monkeypatch, {"edgeq.frontend.tflite.kind:tflite_interpreter_here": "tests.tools.crashers:loader_abort"})
    code, _, err = run(capsys, "generate", tiny / "tiny.tflite", "-o", tmp_path / "lib")
    one_error(code, err, "LiteRT crashed (SIGABRT) during reading", "tiny.tflite")
    assert not (tmp_path / "lib").exists()


def test_observing_activations_runs_in_the_worker(tiny):
    """calibrate.collect_stats (the calibration methods' observations, outside a conversion too: the
    --compare-calibrations path) runs LiteRT in the worker, with its progress, and equals the in-process
    result; a crash there is a WorkerCrashed naming the stage."""
    from edgeq.frontend import calibrate, partial
    from edgeq.frontend.data import load_calibration, loaded_inputs
    from edgeq.frontend.load import load_model

    loaded = load_model(tiny / "tiny.keras")
    cal = load_calibration(str(tiny / "calib.npy"), loaded_inputs(loaded))
    calibrated = partial.calibrate(loaded, cal)
    seen = []
    methods = [calibrate.Method("minmax"), calibrate.Method("entropy")]
    there = calibrate.collect_stats(calibrated, cal.inputs, methods, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 16) for k in range(1, 17)]
    os.environ["EDGEQ_ISOLATION"] = "inprocess"
    here = calibrate.collect_stats(calibrated, cal.inputs, methods)
    os.environ["EDGEQ_ISOLATION"] = "process"
    assert there.keys() == here.keys() and there
    for i in here:
        assert (there[i].obs_lo, there[i].obs_hi, there[i].count) == (here[i].obs_lo, here[i].obs_hi, here[i].count)
        assert np.array_equal(there[i].hist, here[i].hist)
    monkeypatch = pytest.MonkeyPatch()
    try:
        redirect(monkeypatch, {"edgeq.frontend.calibrate:collect_stats_here": "tests.tools.crashers:loader_abort"})
        with pytest.raises(isolation.WorkerCrashed, match="LiteRT crashed .* observation of the calibrated") as e:
            calibrate.collect_stats(calibrated, cal.inputs, methods)
        os.unlink(e.value.log)
    finally:
        monkeypatch.undo()


def test_litert_crash_names_the_op(capsys, monkeypatch, tiny, tmp_path):
    """The crash happens in LiteRT's Prepare of op #3 SOFTMAX: the prefixes of the model are bisected."""
    redirect(monkeypatch, {"edgeq.quality.references:LiteRTHere": "tests.tools.crashers:LiteRTCrashingOnSoftmax"})
    code, _, err = run(capsys, "validate", tiny / "tiny.tflite", "--json", tmp_path / "r.json")
    one_error(code, err, "LiteRT crashed (SIGABRT) during loading the model", "SOFTMAX", "op #3")
    assert "multiplier > 0 was not true" in err
    assert list(tmp_path.iterdir()) == []


def test_tflm_crash_names_the_op(capsys, monkeypatch, tiny, tmp_path):
    redirect(monkeypatch, {"edgeq.quality.references:TFLMHere": "tests.tools.crashers:TFLMCrashingOnFullyConnected"})
    code, _, err = run(capsys, "validate", tiny / "tiny.tflite", "--c-host", "--samples", "2",
                       "--json", tmp_path / "r.json")
    one_error(code, err, "TFLite Micro crashed (SIGSEGV) during a TFLite Micro reference run",
              "FULLY_CONNECTED")
    assert list(tmp_path.iterdir()) == []


def test_generated_c_crash_names_the_op(capsys, monkeypatch, tiny, tmp_path):
    """A NULL write compiled into the softmax kernel: the crash names the op that ran it."""
    from edgeq.targets import host

    compile_shared = host.compile_shared

    def planted(lib, extra_cflags=()):
        src = lib.dir / "softmax.c"
        text = src.read_text()
        src.write_text(text.replace("int8_t *out) {", "int8_t *out) {\n  *(volatile int *)0 = 1;", 1))
        return compile_shared(lib, (*extra_cflags, "-DEDGEQ_PLANTED_CRASH"))  # its own cache entry

    monkeypatch.setattr(host, "compile_shared", planted)
    code, _, err = run(capsys, "validate", tiny / "tiny.tflite", "--c-host", "--samples", "2",
                       "--json", tmp_path / "r.json")
    one_error(code, err, "the generated C library crashed (SIGSEGV)", "op #3 SOFTMAX", "edgeq_softmax_s8")
    assert list(tmp_path.iterdir()) == []


def test_timeout(capsys, monkeypatch, tiny, tmp_path):
    redirect(monkeypatch, {"edgeq.frontend.tflite.kind:tflite_interpreter_here": "tests.tools.crashers:hang"})
    monkeypatch.setenv("EDGEQ_WORKER_TIMEOUT", "2")
    code, _, err = run(capsys, "generate", tiny / "tiny.tflite", "-o", tmp_path / "lib")
    one_error(code, err, "LiteRT did not finish reading", "tiny.tflite", "within 2 s")
    assert "EDGEQ_WORKER_TIMEOUT" in err and not (tmp_path / "lib").exists()


def test_python_errors_in_the_worker_are_the_usual_message(capsys, tiny, tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes((tiny / "tiny.tflite").read_bytes()[:300])
    code, _, err = run(capsys, "generate", bad, "-o", tmp_path / "lib")
    one_error(code, err, "bad.tflite")
    assert "crashed" not in err and not (tmp_path / "lib").exists()


def test_success_through_the_worker(capsys, tiny, tmp_path):
    """quantize and validate --c-host end to end with every native call in the worker."""
    out = tmp_path / "q.tflite"
    code, _, err = run(capsys, "quantize", tiny / "tiny.keras", "--calib", tiny / "calib.npy", "-o", out)
    assert code == 0, err
    code, stdout, err = run(capsys, "validate", out, "--c-host", "--samples", "3")
    assert code == 0, err
    assert "bit-exact: 3/3" in stdout
    x = np.load(tiny / "calib.npy")
    np.savez(tmp_path / "data.npz", x=x, y=np.arange(len(x)) % 3)
    code, _, err = run(capsys, "validate", out, "--data", tmp_path / "data.npz", "--keras", tiny / "tiny.keras",
                       "--json", tmp_path / "r.json")  # the float Keras run: in the worker too
    assert code == 0, err
    import json

    fidelity = json.loads((tmp_path / "r.json").read_text())["fidelity"]
    assert len(fidelity) == 1 and fidelity[0]["sqnr_db"] > 10


CRASH_UNDER_QUIET_TF = """
import ctypes, faulthandler, os
from edgeq.frontend.runtime import quiet_tf

def native_call_in_edgeq():
    os.write(2, b"F tensorflow/core/some_kernel.cc:42 Check failed: native says goodbye\\n")
    ctypes.CDLL(None).abort()

before = faulthandler.is_enabled()
with quiet_tf():
    with quiet_tf():
        pass
    assert faulthandler.is_enabled()
assert faulthandler.is_enabled() == before
print("restored", flush=True)
with quiet_tf():
    with quiet_tf():  # nested: the report reaches the terminal, not the outer block's file
        native_call_in_edgeq()
"""


def test_a_crash_of_edgeqs_own_process_under_quiet_tf_reaches_the_real_stderr(tmp_path):
    """quiet_tf sends fd 2 to a file; a fatal signal there still prints its report (faulthandler: the
    signal and the Python stack naming the function) on the real stderr, and the native output is kept in
    the edgeq-native-<pid>-*.log file."""
    import signal
    import subprocess
    import sys

    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("PYTHONFAULTHANDLER", None)
    proc = subprocess.run([sys.executable, "-c", CRASH_UNDER_QUIET_TF], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == -signal.SIGABRT, proc.stderr
    assert proc.stdout == "restored\n"
    assert "Fatal Python error: Aborted" in proc.stderr, proc.stderr
    assert "in native_call_in_edgeq" in proc.stderr, proc.stderr
    assert "native says goodbye" not in proc.stderr  # TensorFlow's chatter stays in the file...
    logs = list(tmp_path.glob("edgeq-native-*.log"))
    assert len(logs) == 2 and any("native says goodbye" in log.read_text() for log in logs)  # ...which is kept
