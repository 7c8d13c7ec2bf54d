"""A model that does not fit: flash and RAM needs against the board's, in bytes, BEFORE anything is built.

A small board (32 KiB RAM, 128 KiB flash: a Netduino Plus 2 shrunk in a temporary board file) against the
MLPerf Tiny ResNet-8 (242 KB of constants, a 34 KB arena); the same estimate checked as a lower bound of a
real linked image of a model that fits.
"""

import json
import re

import pytest

from paths import MLPERF, REPO
from edgeq.api import lower_tflite
from edgeq.targets.boards import load_board
from edgeq.cli.main import main
from edgeq.errors import EdgeqError
from edgeq.targets.fit import check_fit, estimate_graph, estimate_library

RESNET8 = MLPERF / "resnet8_int8.tflite"


@pytest.fixture(scope="module")
def tiny_board(tmp_path_factory):
    """netduinoplus2.toml with 128 KiB flash and 32 KiB RAM, as a user's own board file."""
    text = (REPO / "boards" / "netduinoplus2.toml").read_text()
    text = text.replace('name = "netduinoplus2"', 'name = "tiny-m4"')
    text = re.sub(r"flash = \{ origin = 0x08000000, length = 0x[0-9A-Fa-f]+ \}",
                  "flash = { origin = 0x08000000, length = 0x00020000 }", text)
    text = re.sub(r"ram = \{ origin = 0x20000000, length = 0x[0-9A-Fa-f]+ \}",
                  "ram = { origin = 0x20000000, length = 0x00008000 }", text)
    p = tmp_path_factory.mktemp("boards") / "tiny-m4.toml"
    p.write_text(text)
    b = load_board(p)
    assert (b.memory.flash.length, b.memory.ram.length) == (128 * 1024, 32 * 1024)
    return p


@pytest.fixture(scope="module")
def resnet8_lib(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit") / "resnet8"
    assert main(["generate", str(RESNET8), "-o", str(d)]) == 0
    return d


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_estimate_names_bytes_and_biggest_parts(tiny_board):
    g = lower_tflite(RESNET8.read_bytes(), name="resnet8")
    est = estimate_graph(g, load_board(tiny_board))
    assert not est.fits
    assert est.weights_bytes > 150_000 and est.arena_bytes == g.plan.size  # --cpu any: int8 weights twice
    # the three biggest constants are the 3x3x64x64 convolution weights (36,864 int8 values each, plus the
    # kernel's own int32 tables derived from them)
    assert est.largest_constants[0].bytes >= 36_864
    assert est.largest_activations[0].bytes == max(t.nbytes for t in g.tensors if not t.is_const)
    with pytest.raises(EdgeqError) as e:
        check_fit(est, what="resnet8")
    text = e.value.format()
    assert "does not fit board 'tiny-m4'" in text and "estimated before building" in text
    assert f"{est.flash_bytes:,} bytes" in text and "131,072" in text
    assert f"{est.ram_bytes:,} bytes" in text and "32,768" in text
    assert "largest constant arrays" in text and "largest activation tensors" in text
    assert est.largest_activations[0].name.split("'")[1] in text  # named by tensor
    assert "edgeq boards" in text and "netduinoplus2" in text


def test_estimate_passes_on_a_big_board():
    g = lower_tflite(RESNET8.read_bytes(), name="resnet8")
    est = check_fit(estimate_graph(g, load_board("mps2-an386")))
    assert est.fits


def test_build_refuses_before_compiling(capsys, tiny_board, resnet8_lib, tmp_path):
    out = tmp_path / "fw"
    code, _, err = run(capsys, "build", resnet8_lib, "--board", tiny_board, "--out", out)
    assert code == 2 and "Traceback" not in err
    assert err.count("error:") == 1 and "does not fit board 'tiny-m4'" in err
    assert "flash: needs at least" in err and "RAM: needs at least" in err and "bytes" in err
    assert "op #9 CONV_2D" in err  # the layer with the most weights
    assert "hint:" in err and "smaller model" in err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".fw")]


def test_convert_and_flash_refuses_before_writing(capsys, tiny_board, tmp_path):
    out = tmp_path / "cf"
    code, _, err = run(capsys, "convert-and-flash", RESNET8, "--board", tiny_board, "--out", out)
    assert code == 2 and "Traceback" not in err
    assert "does not fit board 'tiny-m4'" in err and "bytes" in err
    assert not out.exists()


def test_estimate_is_a_lower_bound_of_the_linked_image(tmp_path):
    """ad01 on mps2-an386: the estimate never exceeds what the linker reports, and the exact parts match."""
    from edgeq.targets.firmware import build_bench, read_manifest

    lib = tmp_path / "ad01"
    assert main(["generate", str(MLPERF / "ad01_int8.tflite"), "-o", str(lib), "--cpu", "dsp"]) == 0
    board = load_board("mps2-an386")
    est = estimate_library(lib, board, read_manifest(lib))
    b = build_bench(lib, board, tmp_path / "fw")
    m = b.memory
    assert est.flash_bytes <= m.flash_bytes and est.ram_bytes <= m.ram_bytes
    assert est.arena_bytes == m.arena_bytes
    # constant arrays: everything in model_data.c but the small per-op parameter structs
    assert 0.97 * m.weights_bytes <= est.weights_bytes <= m.weights_bytes
    assert est.flash_bytes >= 0.9 * m.flash_bytes and est.ram_bytes >= 0.9 * m.ram_bytes
    info = json.loads((tmp_path / "fw" / "build.json").read_text())
    assert info["elf"] == str(tmp_path / "fw" / "bench.elf") and (tmp_path / "fw" / "bench.elf").is_file()
