"""Loader fuzzing, the fast subset (issue 16, part 6): seeded mutations of a .keras, .h5, SavedModel and
.tflite file (byte flips, truncation, zip members damaged with valid CRCs) end in an edgeq error (or load)
within the time bound, with the worker on; never a traceback or a crash of edgeq. The long run:
``python -m tests.tools.fuzz_loaders --cases 100 --cli --json fuzz.json`` (docs/reliability.md)."""

import os

import pytest

from edgeq import isolation
from tools import fuzz_loaders as fl


@pytest.fixture(autouse=True)
def real_worker(monkeypatch):
    isolation.shutdown()
    monkeypatch.setenv("EDGEQ_ISOLATION", "process")
    monkeypatch.setenv("EDGEQ_WORKER_TIMEOUT", fl.CALL_TIMEOUT)
    yield
    isolation.shutdown()


@pytest.fixture(scope="module")
def seeds():
    return fl.seed_models()


@pytest.mark.parametrize("fmt,cases,cli", [("tflite", 6, True), ("h5", 6, False), ("keras", 6, False),
                                           ("savedmodel", 2, False)])
def test_mutated_files_end_in_edgeq_errors(seeds, tmp_path, fmt, cases, cli):
    results = [fl.run_case(fmt, seeds[fmt], i, 7, tmp_path, cli) for i in range(cases)]
    assert not [r for r in results if r["outcome"] == "FAIL"], results
    assert any(r["outcome"] != "loaded" for r in results)  # the mutations do damage


def test_a_crash_while_loading_is_contained(seeds, tmp_path, monkeypatch):
    from cli.test_isolation import redirect

    redirect(monkeypatch, {"edgeq.frontend.load:load_model_here": "tests.tools.crashers:loader_abort"})
    r = fl.run_case("h5", seeds["h5"], 0, 7, tmp_path, False)
    assert r["outcome"] == "crash contained" and "SIGABRT" in r["detail"]
    os.unlink(r["detail"].rsplit("the worker's log: ", 1)[1].rstrip(")"))


def test_the_harness_reports_a_traceback(seeds, tmp_path, monkeypatch):
    import edgeq.frontend.load

    def broken(path):
        raise KeyError("model_config")

    monkeypatch.setattr(edgeq.frontend.load, "load_model", broken)
    r = fl.run_case("h5", seeds["h5"], 0, 7, tmp_path, False)
    assert r["outcome"] == "FAIL" and "KeyError" in r["detail"]


def test_h5_attribute_with_a_damaged_string_encoding(seeds, tmp_path):
    """Found by the long run (seed 1, case 13: 62 byte flips): h5py raised TypeError("Unknown string
    encoding") reading the model config, a traceback until load.py caught it."""
    r = fl.run_case("h5", seeds["h5"], 13, 1, tmp_path, False)
    assert r["outcome"] == "error", r


def test_damaged_savedmodel_fingerprint_prints_no_traceback(seeds, tmp_path):
    """Found by the long run: TensorFlow logs a damaged fingerprint.pb with a traceback (absl ERROR; then
    "--- Logging error ---" tracebacks once quiet_tf had closed the stream its handler held) although the
    model loads. A fresh process, as a user's command: nothing on stderr but what edgeq prints."""
    import os
    import shutil
    import subprocess
    import sys

    model = tmp_path / "sm"
    shutil.copytree(seeds["savedmodel"], model)
    fp = model / "fingerprint.pb"
    fp.write_bytes(fp.read_bytes()[:25])
    code = ("import sys; from edgeq.frontend.load import load_model; load_model(sys.argv[1]); "
            "load_model(sys.argv[1]); print('loaded')")
    r = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, EDGEQ_ISOLATION="process"))
    assert r.returncode == 0 and "loaded" in r.stdout, r.stderr
    assert "Traceback" not in r.stderr and "ERROR:absl" not in r.stderr, r.stderr


def test_h5_that_makes_h5py_loop_forever_times_out(seeds, tmp_path, monkeypatch):
    """Found by the long run (seed 2, case 190): reading the model config attribute of this bit-flipped .h5
    never returns (h5py/HDF5 loop in native code). The worker is stopped: one edgeq error, not a hang. (After
    later loader changes this file ends in an edgeq error before that read; either ending is fine, a hang is
    not. tests/cli/test_isolation.py covers the timeout itself.)"""
    monkeypatch.setenv("EDGEQ_WORKER_TIMEOUT", "5")
    r = fl.run_case("h5", seeds["h5"], 190, 2, tmp_path, False)
    assert r["outcome"] == "error" or (r["outcome"] == "timeout" and "within 5 s" in r["detail"]), r
    assert r["seconds"] < 30
