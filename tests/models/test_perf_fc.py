"""FULLY_CONNECTED speed (issue 5): the row-pair kernel on the boards.

The DSP path (SXTB16/SMLAD, Cortex-M4 ``mps2-an386``) and the portable path (Cortex-M3 ``mps2-an385``) each
run one-op models that cover input tails, row counts that are not a multiple of four, the chunking of long
rows, extreme accumulators and -128 weights (the sparse pairing), plus the MLPerf models; every output byte
is compared with LiteRT. ad01 (ten FULLY_CONNECTED layers) must stay within its instruction budget on the M4.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from paths import MLPERF

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from test_fully_connected import _fc_model  # noqa: E402

pytestmark = pytest.mark.slow
BOARDS = ["mps2-an386", "mps2-an385"]
AD01_BUDGET = 390_000  # instructions on mps2-an386 (was 1.69 M with the scalar kernel)


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
