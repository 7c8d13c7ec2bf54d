"""The board commands as a user types them: boards, build, flash, bench, stop, convert-and-flash errors."""

import os

import pytest

from paths import MLPERF
from edgeq.cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(autouse=True)
def _private_state(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEQ_STATE", str(tmp_path / "state"))


@pytest.fixture(scope="module")
def ad01_lib(tmp_path_factory):
    from edgeq.api import generate_c

    return generate_c((MLPERF / "ad01_int8.tflite").read_bytes(), tmp_path_factory.mktemp("ad01") / "model",
                      prefix="model", name="ad01")


def test_boards_lists_every_board(capsys):
    code, out, _ = run(capsys, "boards")
    assert code == 0
    for name in ("mps2-an386", "mps2-an385", "mps2-an500", "mps2-an505", "netduinoplus2", "nucleo-f446re",
                 "nucleo-l4r5zi", "nucleo-h743zi", "nrf52840dk"):
        assert name in out


def test_flash_bench_stop_on_emulator(capsys, ad01_lib, tmp_path):
    code, out, err = run(capsys, "flash", ad01_lib.dir, "--board", "mps2-an386", "--out", tmp_path / "fw")
    assert code == 0, err
    assert "/dev/pts/" in out
    try:
        code, out, err = run(capsys, "bench", "--board", "mps2-an386", "--runs", "3", "--json", tmp_path / "b.json",
                             "--model", ad01_lib.dir)
        assert code == 0, err
        assert "instructions (QEMU)" in out and (tmp_path / "b.json").exists()
        # firmware built from another model is refused, naming both hashes
        code, _, err = run(capsys, "bench", "--board", "mps2-an386", "--model", MLPERF / "kws_dscnn_int8.tflite")
        assert code == 2 and "was built from model" in err
    finally:
        code, out, _ = run(capsys, "stop", "--board", "mps2-an386")
    assert "stopped" in out
    code, out, _ = run(capsys, "stop", "--board", "mps2-an386")
    assert "no mps2-an386 emulator was running" in out


def test_bench_without_emulator_or_port(capsys):
    code, _, err = run(capsys, "bench", "--board", "mps2-an385")
    assert code == 2
    assert "no port given" in err and "edgeq flash" in err


def test_bench_on_silent_port_names_the_port(capsys):
    master, slave = os.openpty()
    try:
        path = os.ttyname(slave)
        code, _, err = run(capsys, "bench", "--port", path, "--timeout", "0.3")
    finally:
        os.close(master)
        os.close(slave)
    assert code == 2
    assert path in err


def test_bench_on_missing_port(capsys):
    code, _, err = run(capsys, "bench", "--port", "/dev/ttyNOPE9")
    assert code == 2 and "cannot open serial port /dev/ttyNOPE9" in err


def test_unknown_board(capsys, ad01_lib):
    code, _, err = run(capsys, "build", ad01_lib.dir, "--board", "no-such-board")
    assert code == 2 and "no-such-board" in err and "mps2-an386" in err and "board .toml" in err


def test_build_needs_a_generated_library(capsys, tmp_path):
    code, _, err = run(capsys, "build", tmp_path, "--board", "mps2-an386")
    assert code == 2 and "edgeq generate" in err


def test_build_real_board(capsys, ad01_lib, tmp_path):
    code, out, err = run(capsys, "build", ad01_lib.dir, "--board", "nucleo-f446re", "--out", tmp_path / "fw")
    assert code == 0, err
    assert "bench.elf" in out and "of 524,288" in out


def test_flash_real_board_without_its_tool(capsys, ad01_lib, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no st-flash, pyocd or openocd here
    if any(os.path.exists(f"/usr/bin/{t}") for t in ("st-flash",)):
        pytest.skip("st-flash is installed on this machine")
    code, _, err = run(capsys, "flash", ad01_lib.dir, "--board", "nucleo-f446re", "--out", tmp_path / "fw")
    assert code == 2
    assert "st-flash" in err and "not installed" in err


def test_convert_and_flash_keras_needs_calibration(capsys, tmp_path):
    code, _, err = run(capsys, "convert-and-flash", MLPERF / "ad01.h5", "--out", tmp_path)
    assert code == 2 and "--calib" in err


def test_convert_and_flash_real_board_needs_port(capsys, tmp_path):
    code, _, err = run(capsys, "convert-and-flash", MLPERF / "ad01_int8.tflite", "--board", "nucleo-f446re",
                       "--out", tmp_path)
    assert code == 2 and "--port" in err


def test_convert_and_flash_emulated_default(capsys, tmp_path):
    code, out, err = run(capsys, "convert-and-flash", MLPERF / "ad01_int8.tflite", "--runs", "2",
                         "--out", tmp_path / "o", "--report", tmp_path / "r.json")
    assert code == 0, err
    assert "bit-exact vs LiteRT on device" in out and "yes (10 samples" in out
    assert (tmp_path / "r.json").exists()


def test_dsp_library_refused_for_a_core_without_dsp(capsys, tmp_path):
    code, _, err = run(capsys, "generate", MLPERF / "kws_dscnn_int8.tflite", "-o", tmp_path / "lib", "--cpu", "dsp")
    assert code == 0, err
    code, _, err = run(capsys, "build", tmp_path / "lib", "--board", "mps2-an385", "--out", tmp_path / "fw")
    assert code == 2 and "DSP extension" in err and "--cpu portable" in err


def test_dsp_library_does_not_compile_without_dsp(tmp_path):
    """Compiled for a core without the DSP extension (here: the host), a --cpu dsp library stops with
    a message instead of running kernels whose portable weights were left out."""
    import subprocess

    from edgeq.api import generate_c

    lib = generate_c((MLPERF / "kws_dscnn_int8.tflite").read_bytes(), tmp_path / "lib", cpu="dsp")
    r = subprocess.run(["make", "-C", str(lib.dir), "CC=gcc"], capture_output=True, text=True)
    assert r.returncode != 0 and "generated for cores with the DSP extension" in r.stderr
