"""Atomic outputs: a failed or interrupted run leaves the previous output untouched and no half-written folder.

`edgeq generate` into an existing folder when the second run fails (unsupported ops, a write error half-way
through, Ctrl-C half-way through), `edgeq build` when the firmware fails to compile, and convert-and-flash's
--out when the model is broken or does not fit.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from paths import MLPERF
from edgeq.cli.main import main

AD01 = MLPERF / "ad01_int8.tflite"
KWS = MLPERF / "kws_dscnn_int8.tflite"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(d):
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def leftovers(d):
    """Temporary or backup folders edgeq may have left beside ``d``."""
    return sorted(p.name for p in d.parent.iterdir() if p.name.startswith(f".{d.name}."))


@pytest.fixture
def previous(tmp_path, capsys):
    """A library folder from a successful earlier run (ad01), and its bytes."""
    lib = tmp_path / "lib"
    assert run(capsys, "generate", AD01, "-o", lib)[0] == 0
    return lib, snapshot(lib)


@pytest.fixture(scope="module")
def unsupported(tmp_path_factory):
    import numpy as np

    from kernels.harness import build_tflite

    q = {"scale": 0.05, "zero_point": 0}
    p = tmp_path_factory.mktemp("atomic") / "unsupported.tflite"
    p.write_bytes(build_tflite(
        [dict(shape=[1, 8], dtype="int8", name="x", **q), dict(shape=[1, 8], dtype="int8", name="y", **q)],
        [("ADD_N", [0, 0], [1], None)], inputs=[0], outputs=[1]))
    assert np.frombuffer(p.read_bytes()[4:8], np.uint8).tobytes() == b"TFL3"
    return p


def test_generate_failing_on_unsupported_ops_keeps_previous(capsys, previous, unsupported):
    lib, before = previous
    code, _, err = run(capsys, "generate", unsupported, "-o", lib)
    assert code == 2 and "ADD_N" in err
    assert snapshot(lib) == before and leftovers(lib) == []


def test_generate_failing_half_way_keeps_previous(capsys, previous, monkeypatch):
    """The disk fills up while the kernels are copied: an OSError half-way through the writes."""
    import importlib

    gen = importlib.import_module("edgeq.codegen.emit")  # the module (the package exports a function)
    lib, before = previous
    calls = {"n": 0}
    real_copy = gen.shutil.copyfile

    def failing_copy(src, dst, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device", str(dst))
        return real_copy(src, dst, *a, **k)

    monkeypatch.setattr(gen.shutil, "copyfile", failing_copy)
    code, _, err = run(capsys, "generate", KWS, "-o", lib)
    assert calls["n"] == 3  # the failure really happened mid-way, after files had been written
    assert code == 2 and "No space left on device" in err and "Traceback" not in err
    assert snapshot(lib) == before and leftovers(lib) == []


def test_generate_interrupted_by_sigint_keeps_previous(previous):
    """A real SIGINT delivered to the `edgeq` process while it writes the library (deterministically: the
    process signals itself when the third kernel file is copied)."""
    lib, before = previous
    script = textwrap.dedent(f"""
        import importlib, os, signal, sys
        # as from a terminal: a test runner's worker may pass SIGINT down ignored, and Python then installs
        # no KeyboardInterrupt handler
        signal.signal(signal.SIGINT, signal.default_int_handler)
        gen = importlib.import_module("edgeq.codegen.emit")
        real, n = gen.shutil.copyfile, [0]
        def copy(src, dst, *a, **k):
            n[0] += 1
            if n[0] == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return real(src, dst, *a, **k)
        gen.shutil.copyfile = copy
        from edgeq.cli.main import main
        sys.exit(main(["generate", {str(KWS)!r}, "-o", {str(lib)!r}]))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert r.returncode == 130, r.stderr
    assert "interrupted" in r.stderr and "Traceback" not in r.stderr
    assert snapshot(lib) == before and leftovers(lib) == []


def test_generate_success_replaces_previous_completely(capsys, previous):
    lib, before = previous
    (lib / "stale.txt").write_text("from an older run")
    assert run(capsys, "generate", KWS, "-o", lib)[0] == 0
    after = snapshot(lib)
    assert "stale.txt" not in after and after != before and "depthwise_conv.c" in after
    assert leftovers(lib) == []


def test_build_failing_to_compile_keeps_previous_firmware(capsys, tmp_path):
    lib = tmp_path / "lib"
    fw = tmp_path / "fw"
    assert run(capsys, "generate", AD01, "-o", lib, "--cpu", "dsp")[0] == 0
    fw.mkdir()
    (fw / "bench.elf").write_bytes(b"previous firmware")
    (fw / "build.json").write_text("{}")
    before = snapshot(fw)
    with open(lib / "model.c", "a") as f:
        f.write("\n#error damaged library\n")
    code, _, err = run(capsys, "build", lib, "--out", fw)
    assert code == 2 and "failed to compile" in err and "damaged library" in err
    assert snapshot(fw) == before and leftovers(fw) == []


def test_convert_and_flash_out_untouched_on_error(capsys, tmp_path):
    out = tmp_path / "cf"
    out.mkdir()
    (out / "report.json").write_text("previous")
    before = snapshot(out)
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(AD01.read_bytes()[:5000])
    code, _, err = run(capsys, "convert-and-flash", bad, "--out", out)
    assert code == 2 and "broken.tflite" in err
    assert snapshot(out) == before and leftovers(out) == []
    new = tmp_path / "new"
    code, _, err = run(capsys, "convert-and-flash", bad, "--out", new)
    assert code == 2 and not new.exists()
