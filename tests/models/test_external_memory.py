"""Weights in a board's external memory (memory.external): a model whose image does not fit the board's
flash runs bit-exact with its constant arrays in the 16 MiB PSRAM QEMU maps (mps2-an386: 0x21000000;
mps2-an505, Secure: 0x80000000).

The board is mps2-an386 / mps2-an505 with its flash cut to 24 KiB (a user's board file): the MLPerf Tiny KWS
DS-CNN (~31 KB of constant data, its weights int8 in flash) then fits only with its weights in PSRAM. EfficientNetB0 (4 M weights, which no
MPS2 flash holds) runs the same way behind ``tools/zoo_layers.py efficientnet_b0 --boards mps2-an386``.
"""

import re
import subprocess

import pytest

from paths import MLPERF, REPO
from edgeq.flows.convert_and_flash import convert_and_flash
from edgeq.report import terminal
from edgeq.targets.boards import load_board
from edgeq.targets.firmware import BenchBuild, build_bench
from edgeq.targets.toolchain import OBJDUMP

FLASH = 24 * 1024


def _small_flash(tmp_path, stock: str):
    text = (REPO / "boards" / f"{stock}.toml").read_text().replace(f'name = "{stock}"', 'name = "small-flash"')
    text, n = re.subn(r"flash = \{ origin = (0x[0-9A-Fa-f]+), length = 0x00400000 \}",
                      rf"flash = {{ origin = \1, length = {FLASH:#x} }}", text)
    assert n == 1
    p = tmp_path / "small-flash.toml"
    p.write_text(text)
    return load_board(p)


@pytest.mark.parametrize("stock", ["mps2-an386", "mps2-an505"])
def test_weights_in_psram_bit_exact(stock, tmp_path, capsys):
    small_flash_board = _small_flash(tmp_path, stock)
    ext = small_flash_board.memory.external
    assert ext is not None
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
    assert int(sec[2], 16) == m.external_bytes and int(sec[3], 16) == ext.origin  # size, VMA
    assert (tmp_path / "firmware" / "bench.bin").stat().st_size <= FLASH  # the raw image holds flash only

    # the build report says where the weights are
    terminal.build_line(BenchBuild(small_flash_board, tmp_path / "model", tmp_path / "firmware", elf, {}, m))
    assert f"weights in external psram: {m.external_bytes:,} bytes" in capsys.readouterr().out.replace("\n", "")

    # the same library on the stock board (4 MiB flash) keeps its weights in flash
    b = build_bench(tmp_path / "model", load_board(stock), tmp_path / "stock")
    assert b.memory.external_bytes == 0 and b.memory.weights_placement() is None
    heads = subprocess.run([OBJDUMP, "-h", "-w", str(b.elf)], capture_output=True, text=True, check=True).stdout
    assert ".edgeq_weights" not in heads and b.memory.weights_bytes == m.weights_bytes
