"""int8 ADD/SUB/MUL speed (issue 15): the table path (ADD/SUB) and the SMMULR path (MUL) on the boards.

One model holds ADD, SUB and MUL with same shapes, a broadcast channel vector and a fused ReLU; on the M4
(``mps2-an386``, SMMULR) and the M3 (``mps2-an385``, portable C) every output byte is compared with LiteRT,
and on the M4 the ADD/SUB/MUL ops must stay within 20 instructions per output element (134 for ADD before the
table path; the profile counts each op's instructions, QEMU ``-icount``).
"""

import sys
from pathlib import Path

import keras
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from test_add_mul import calib_for, convert, inputs  # noqa: E402

pytestmark = pytest.mark.slow
BOARDS = ["mps2-an386", "mps2-an385"]
PER_ELEMENT_BUDGET = 20  # instructions per output element on mps2-an386


@pytest.fixture(scope="module")
def add_model(tmp_path_factory):
    a, b, c = inputs((8, 8, 16), (8, 8, 16), (16,))
    y1 = keras.layers.ReLU()(keras.layers.Add()([a, b]))
    y2 = keras.layers.Subtract()([a, keras.ops.broadcast_to(c, (1, 8, 8, 16))])
    y = keras.layers.Multiply()([keras.layers.Add()([y1, y2]), b])
    m = keras.Model([a, b, c], y)
    path = tmp_path_factory.mktemp("add") / "add.tflite"
    path.write_bytes(convert(m, calib_for(m, 3)))
    return path


@pytest.mark.parametrize("board", BOARDS)
def test_add_sub_on_board(add_model, board, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    r = convert_and_flash(add_model, board_name=board, runs=1, samples=10, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"], r["validation"]
    ops = [layer for layer in r["profile"] if layer["kind"] in ("ADD", "SUB", "MUL")]
    assert len(ops) >= 4, [layer["kind"] for layer in r["profile"]]
    if board == "mps2-an386":
        per_element = {(k, layer["kind"]): layer["count"] / (8 * 8 * 16) for k, layer in enumerate(ops)}
        assert max(per_element.values()) <= PER_ELEMENT_BUDGET, per_element
