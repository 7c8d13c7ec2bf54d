"""convert-and-flash on the emulated boards (QEMU), and firmware for the real boards (build + link + fit)."""

import json

import numpy as np
import pytest

from paths import MLPERF
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.targets.firmware import build_bench
from edgeq.targets.boards import list_boards, load_board

pytestmark = pytest.mark.slow

REPORT_KEYS = {
    "model": {"path", "sha256", "ops", "macs"},
    "board": {"name", "cpu", "clock_hz", "emulated"},
    "memory": {"flash_bytes", "weights_bytes", "code_bytes", "ram_bytes", "arena_bytes", "stack_bytes"},
    "latency": {"unit", "median", "min", "max", "runs", "macs_per_unit", "ms_at_clock"},
    "validation": {"reference", "samples", "mismatched_bytes", "bit_exact"},
}


def _check(report: dict, board: str, samples: int = 10, runs: int = 5) -> None:
    for section, keys in REPORT_KEYS.items():
        assert keys <= set(report[section]), (section, keys - set(report[section]))
    json.dumps(report)  # serialisable
    v = report["validation"]
    assert v["bit_exact"] and v["samples"] >= samples and v["mismatched_bytes"] == 0, v
    assert report["board"]["name"] == board
    lat = report["latency"]
    assert lat["runs"] == runs and lat["min"] <= lat["median"] <= lat["max"] and lat["median"] > 0
    unit = "instructions (QEMU)" if report["board"]["emulated"] else "cycles"
    assert lat["unit"] == unit
    mem = report["memory"]
    assert 0 < mem["code_bytes"] < mem["flash_bytes"] and mem["weights_bytes"] > 0
    assert 0 < mem["stack_bytes"] < mem["ram_bytes"]
    assert len(report["profile"]) > 0


def test_resnet8_h5_random_calibration_on_default_board(tmp_path):
    r = convert_and_flash(MLPERF / "resnet8.h5", calib="random", random_range=(0.0, 255.0), runs=5,
                          out_dir=tmp_path).report
    _check(r, "mps2-an386")
    assert "not representative" in (r["model"]["calibration_warning"] or "").lower()


def test_kws_int8_tflite_on_default_board(tmp_path):
    r = convert_and_flash(MLPERF / "kws_dscnn_int8.tflite", runs=5, out_dir=tmp_path).report
    _check(r, "mps2-an386")
    assert r["model"]["macs"] == 2_656_768
    # instruction counts under -icount are deterministic: every run of the same input is the same
    assert r["latency"]["max"] - r["latency"]["min"] <= 2 * r["latency"]["resolution"]


def test_ad01_h5_calibrated_on_real_sample(tmp_path):
    sample = MLPERF / "ad01_sample_input_40x640_f32.bin"
    x = np.fromfile(sample, np.float32).reshape(40, 640)
    np.save(tmp_path / "ad01_val.npy", x)
    r = convert_and_flash(MLPERF / "ad01.h5", calib=str(sample), data=str(tmp_path / "ad01_val.npy"), runs=5,
                          samples=40, out_dir=tmp_path / "out").report
    _check(r, "mps2-an386", samples=40)


def test_digits_cnn_on_device_with_accuracy(digits, tmp_path):
    model, _, (xte, yte) = digits
    model.save(tmp_path / "digits.keras")
    np.save(tmp_path / "calib.npy", xte[:100])
    np.savez(tmp_path / "val.npz", x=xte, y=yte)
    r = convert_and_flash(tmp_path / "digits.keras", calib=str(tmp_path / "calib.npy"),
                          data=str(tmp_path / "val.npz"), runs=5, samples=100, out_dir=tmp_path / "out").report
    _check(r, "mps2-an386", samples=100)
    acc = r["accuracy"]
    assert acc["samples"] == 100
    assert acc["device"] == acc["host"]  # bit-exact outputs: the same predictions
    assert abs(acc["float_model"] - acc["device"]) <= 0.03


@pytest.mark.parametrize("board", ["mps2-an385", "mps2-an500", "mps2-an505", "mps3-an547", "netduinoplus2"])
def test_other_emulated_boards(board, tmp_path):
    r = convert_and_flash(MLPERF / "kws_dscnn_int8.tflite", board_name=board, runs=5, out_dir=tmp_path).report
    _check(r, board)


@pytest.fixture(scope="module")
def kws_library(tmp_path_factory):
    from edgeq.api import generate_c

    return generate_c((MLPERF / "kws_dscnn_int8.tflite").read_bytes(), tmp_path_factory.mktemp("kws") / "model",
                      prefix="model", name="kws")


@pytest.mark.parametrize("board", [b.name for b in list_boards() if not b.emulated])
def test_real_board_firmware_builds_and_fits(board, kws_library, tmp_path):
    b = load_board(board)
    build = build_bench(kws_library.dir, b, tmp_path / board)
    m = build.memory
    assert build.elf.exists()
    assert m.flash_bytes <= b.memory.flash.length and m.ram_bytes <= b.memory.ram.length
    assert m.arena_bytes == kws_library.context["arena_size"]


def test_model_too_large_for_board_is_refused_before_flashing(tmp_path):
    """resnet8's weights do not fit a board with 64 KiB of flash: refused before compiling, with both sizes
    and the largest arrays named."""
    from edgeq.api import generate_c
    from edgeq.errors import EdgeqError

    toml = (load_board("mps2-an386").path).read_text()
    small = toml.replace("length = 0x00400000", "length = 0x00010000", 1)
    ext = next(ln for ln in small.splitlines(keepends=True) if ln.startswith("external = "))
    small = small.replace(ext, "")  # no PSRAM either (with it the weights would go there)
    assert small != toml
    (tmp_path / "tiny-board.toml").write_text(small.replace('name = "mps2-an386"', 'name = "tiny-board"'))
    lib = generate_c((MLPERF / "resnet8_int8.tflite").read_bytes(), tmp_path / "model", prefix="model")
    with pytest.raises(EdgeqError) as e:
        build_bench(lib.dir, load_board(tmp_path / "tiny-board.toml"), tmp_path / "fw")
    msg = e.value.format()
    assert "tiny-board" in msg and "flash" in msg.lower() and "65,536" in msg and "largest constant arrays" in msg
