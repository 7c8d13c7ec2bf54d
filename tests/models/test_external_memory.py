"""Weights in a board's external memory (memory.external): a model whose image does not fit the board's
flash runs bit-exact on mps2-an386 with its constant arrays in the 16 MiB PSRAM QEMU maps at 0x21000000.

The board is mps2-an386 with its flash cut to 32 KiB (a user's board file): the MLPerf Tiny KWS DS-CNN
(~62 KB of constant data) then fits only with its weights in PSRAM. EfficientNetB0 (4 M weights, which no
MPS2 flash holds) runs the same way behind ``tools/zoo_layers.py efficientnet_b0 --boards mps2-an386``.
"""

import subprocess

import pytest

from paths import MLPERF, REPO
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.report import terminal
from edgeq.targets.boards import load_board
from edgeq.targets.firmware import BenchBuild, build_bench
from edgeq.targets.toolchain import OBJDUMP

FLASH = 32 * 1024


@pytest.fixture(scope="module")
def small_flash_board(tmp_path_factory):
    text = (REPO / "boards" / "mps2-an386.toml").read_text().replace('name = "mps2-an386"', 'name = "an386-32k"')
    old = "flash = { origin = 0x00000000, length = 0x00400000 }"
    assert old in text
    p = tmp_path_factory.mktemp("boards") / "an386-32k.toml"
    p.write_text(text.replace(old, f"flash = {{ origin = 0x00000000, length = {FLASH:#x} }}"))
    return load_board(p)


def test_weights_in_psram_bit_exact(small_flash_board, tmp_path, capsys):
    r = convert_and_flash(MLPERF / "kws_dscnn_int8.tflite", board_name=small_flash_board, runs=1, samples=3,
                          out_dir=tmp_path)
    assert r.validation.bit_exact and r.validation.samples == 3 and r.validation.mismatched_bytes == 0
    m = r.memory
    # every constant array is in PSRAM: the section holds exactly model_data.c's arrays (aligned to 16)
    assert 0.9 * m.weights_bytes < m.external_bytes <= m.weights_bytes
    assert (m.external_kind, m.external_limit) == ("psram", 16 * 1024 * 1024)
    assert m.flash_bytes <= m.flash_limit == FLASH < m.weights_bytes
    assert m.weights_placement() == f"weights in external psram: {m.external_bytes:,} bytes (of 16,777,216)"
    assert r.report["memory"]["external_bytes"] == m.external_bytes

    elf = tmp_path / "firmware" / "bench.elf"
    heads = subprocess.run([OBJDUMP, "-h", "-w", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = next(ln.split() for ln in heads.splitlines() if " .edgeq_weights " in ln)
    assert int(sec[2], 16) == m.external_bytes and int(sec[3], 16) == 0x21000000  # size, VMA
    assert (tmp_path / "firmware" / "bench.bin").stat().st_size <= FLASH  # the raw image holds flash only

    # the build report says where the weights are
    terminal.build_line(BenchBuild(small_flash_board, tmp_path / "model", tmp_path / "firmware", elf, {}, m))
    assert f"weights in external psram: {m.external_bytes:,} bytes" in capsys.readouterr().out.replace("\n", "")

    # the same library on the stock board (4 MiB flash) keeps its weights in flash
    stock = build_bench(tmp_path / "model", load_board("mps2-an386"), tmp_path / "stock")
    assert stock.memory.external_bytes == 0 and stock.memory.weights_placement() is None
    heads = subprocess.run([OBJDUMP, "-h", "-w", str(stock.elf)], capture_output=True, text=True, check=True).stdout
    assert ".edgeq_weights" not in heads and stock.memory.weights_bytes == m.weights_bytes
