"""FULLY_CONNECTED speed (issues 5, 15): the row-pair kernel on the boards.

The DSP path (SXTB16/SMLAD, eight rows per pass, Cortex-M4 ``mps2-an386``) and the portable path (Cortex-M3
``mps2-an385``) each run one-op models that cover input tails, row counts that are not a multiple of eight,
the chunking of long rows, one chunk at the overflow bound, -128 weights (the sparse pairing), the asm
requantization and clamp of whole groups (LiteRT's single rounding, right shift >= 2) and the C one (shift 1),
plus the MLPerf models; every output byte is compared with LiteRT. ad01 (ten FULLY_CONNECTED layers, 264,192
MACs, int8 weights in flash) must stay within its instruction budget on the M4: 285,760 instructions in
its FULLY_CONNECTED layers when pinned (issue 15's target for the whole model: 291 K; the floor of this
layout is 31 instructions per 32 MACs plus 1.5 to 3 per step of loop control, about 263 K).
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from paths import MLPERF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from test_fully_connected import _bound_rows, _fc_model  # noqa: E402

pytestmark = pytest.mark.slow
BOARDS = ["mps2-an386", "mps2-an385"]
AD01_BUDGET = 288_000  # instructions on mps2-an386 (1.69 M with the scalar kernel, 367 K with four rows per pass)


def _fc_models():
    rng = np.random.default_rng(5)
    w = rng.integers(-127, 128, (13, 1030), dtype=np.int8)  # 3 groups + 1 row, 2 chunks + 2 tail inputs
    yield "long", _fc_model(w, x_zp=-7, out_scale=0.05 * 0.01 * 30 * np.sqrt(1030),
                            bias=rng.integers(-9000, 9000, 13).astype(np.int32))
    w = rng.integers(-128, 128, (6, 37), dtype=np.int8)  # -128 weights: sparse pairing
    yield "minus128", _fc_model(w, x_zp=4, out_scale=0.05 * 0.01 * 30 * np.sqrt(37))
    w = np.full((4, 516), 127, np.int8)
    w[1::2] = -127
    yield "extreme", _fc_model(w, x_zp=0, out_scale=128 * 127 * 516 * 0.05 * 0.01 / 100)
    w = _bound_rows(520)  # one chunk of 130 steps near the overflow bound (fc_chunk), asm requantization
    yield "one_chunk_bound", _fc_model(w, x_zp=0, out_scale=128 * 127 * 520 * 0.05 * 0.01 / 100)
    w = rng.integers(-127, 128, (24, 64), dtype=np.int8)  # three whole groups: asm requantization + clamp
    yield "relu_groups", _fc_model(w, x_zp=-3, out_scale=0.05 * 0.01 * 20 * 8, act=1,
                                   bias=rng.integers(-3000, 3000, 24).astype(np.int32))
    yield "relu6_groups", _fc_model(w, x_zp=6, out_scale=0.05 * 0.01 * 20 * 8, act=3)
    w = rng.integers(-3, 4, (16, 8), dtype=np.int8)
    yield "shift_minus2", _fc_model(w, x_zp=1, out_scale=0.003)  # multiplier * 2^-2: sh = 1 in the asm
    yield "shift_minus1", _fc_model(w, x_zp=1, out_scale=0.0015)  # 2^-1: the C requantization


@pytest.mark.parametrize("board", BOARDS)
def test_fc_models_on_board(board, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    for name, tfl in _fc_models():
        path = tmp_path / f"fc_{name}.tflite"
        path.write_bytes(tfl)
        r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path / name,
                              random_range=(-128.0, 127.0)).report
        assert r["validation"]["bit_exact"], (name, r["validation"])


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("name", ["ad01_int8", "kws_dscnn_int8", "resnet8_int8"])
def test_mlperf_fc_on_board(name, board, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    r = convert_and_flash(MLPERF / f"{name}.tflite", board_name=board, runs=1, samples=10,
                          out_dir=tmp_path).report
    assert r["validation"]["bit_exact"], r["validation"]
    if name == "ad01_int8" and board == "mps2-an386":
        fc = sum(layer["count"] for layer in r["profile"] if layer["kind"] == "FULLY_CONNECTED")
        assert fc <= AD01_BUDGET, fc
