"""int8 ADD/SUB/MUL speed (issue 15): the table path (ADD/SUB) and the SMMULR path (MUL) on the boards.

One model holds ADD, SUB and MUL with same shapes, a broadcast channel vector and a fused ReLU; on the M4
(``mps2-an386``, SMMULR) and the M3 (``mps2-an385``, portable C) every output byte is compared with LiteRT,
and on the M4 the ADD/SUB/MUL ops must stay within 20 instructions per output element (134 for ADD before the
table path; the profile counts each op's instructions, QEMU ``-icount``).

The same model beside a larger unrelated tensor (the arena's peak) runs its ADD/SUB with the tables built at run
time in the free arena bytes (edgeq_add_s8_table_rt), bit-exact on both cores. resnet8: the two ADDs outside the
row-band group build their tables at run time (4 KB less flash), and so does the first, a member of the group, in
the group's scratch, once per inference (its first call fills them: 6 KB less flash in all); the fill costs about
2,560 instructions a table on the M4 (16.6 and 17.3 instructions per element with it, 16.0 before), and the
inference code stays within 8 KiB.
"""

import sys
from pathlib import Path

import keras
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))
from test_add_mul import MLPERF, calib_for, convert, inputs  # noqa: E402

pytestmark = pytest.mark.slow
BOARDS = ["mps2-an386", "mps2-an385"]
PER_ELEMENT_BUDGET = 20  # instructions per output element on mps2-an386


def _model(free: bool) -> keras.Model:
    """``free``: 16x16x16 operands (4096 elements: large enough for the fill, RT_ELEMENTS_PER_RESCALE) beside an
    unrelated 64 KB input pooled first, the arena's peak."""
    hw = 16 if free else 8
    a, b, c = inputs((hw, hw, 16), (hw, hw, 16), (16,))
    y1 = keras.layers.ReLU()(keras.layers.Add()([a, b]))
    y2 = keras.layers.Subtract()([a, keras.ops.broadcast_to(c, (1, hw, hw, 16))])
    y = keras.layers.Multiply()([keras.layers.Add()([y1, y2]), b])
    if not free:
        return keras.Model([a, b, c], y)
    big = keras.Input((64, 64, 16), batch_size=1, name="big")
    return keras.Model([a, b, c, big], [y, keras.layers.MaxPooling2D(8)(big)])


@pytest.fixture(scope="module", params=[False, True], ids=["flash_tables", "run_time_tables"])
def add_model(request, tmp_path_factory):
    m = _model(request.param)
    path = tmp_path_factory.mktemp("add") / "add.tflite"
    path.write_bytes(convert(m, calib_for(m, 3)))
    return path, request.param


@pytest.mark.parametrize("board", BOARDS)
def test_add_sub_on_board(add_model, board, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash
    from edgeq.passes.pipeline import lower_tflite

    path, free = add_model
    kernels = {op.lowered.kernel for op in lower_tflite(path.read_bytes(), cpu="dsp").ops if op.kind in ("ADD", "SUB")}
    assert kernels == {"edgeq_add_s8_table_rt" if free else "edgeq_add_s8_table"}
    r = convert_and_flash(path, board_name=board, runs=1, samples=10, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"], r["validation"]
    ops = [layer for layer in r["profile"] if layer["kind"] in ("ADD", "SUB", "MUL")]
    assert len(ops) >= 4, [layer["kind"] for layer in r["profile"]]
    if board == "mps2-an386" and not free:  # with run-time tables each call adds the fill (~2,560 a table)
        per_element = {(k, layer["kind"]): layer["count"] / (8 * 8 * 16) for k, layer in enumerate(ops)}
        assert max(per_element.values()) <= PER_ELEMENT_BUDGET, per_element


RESNET8_RT_ADDS = 2  # ADDs outside the row-band group: tables built at run time (2 tables, 2 KB of scratch each)
RESNET8_ADD_PER_ELEMENT = 17.5  # M4 instructions per output element of those ADDs, fill included (16.6, 17.3)


@pytest.fixture(scope="module")
def resnet8():
    path = MLPERF / "resnet8_int8.tflite"
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path


@pytest.mark.parametrize("cpu", ["dsp", "portable"])
def test_resnet8_add_tables(resnet8, cpu):
    """Which of resnet8's ADDs build their tables at run time (all three: the first in its row-band group's
    scratch), and that no table is left in flash (the generated data holds none)."""
    from edgeq.codegen.emit import render_context
    from edgeq.passes.pipeline import lower_tflite

    g = lower_tflite(resnet8.read_bytes(), cpu=cpu)
    adds = [op.lowered for op in g.ops if op.kind == "ADD"]
    rt = [low for low in adds if low.kernel == "edgeq_add_s8_table_rt"]
    assert len(adds) == 3 and len(rt) == RESNET8_RT_ADDS
    assert all(low.scratch_bytes == 2048 and dict(low.fields)["rt_tables"] == 2 for low in rt)
    (member,) = [low for low in adds if low not in rt]
    calls = [low for oid, low in member.band.params if low.struct == "edgeq_add_s8_params"]
    assert {(low.kernel, low.scratch_bytes, dict(low.fields)["rt_tables"]) for low in calls} == {
        ("edgeq_add_s8_table_rt", 2048, 2)}
    assert sorted(dict(low.fields)["rt_ready"] for low in calls) == [0] + [1] * (len(calls) - 1)
    assert not [a["name"] for a in render_context(g)["arrays"] if a["name"].endswith(("table1", "table2"))]


def test_resnet8_run_time_tables_on_m4(resnet8, tmp_path):
    from edgeq.flows.convert_and_flash import convert_and_flash

    r = convert_and_flash(resnet8, board_name="mps2-an386", runs=1, samples=3, out_dir=tmp_path).report
    assert r["validation"]["bit_exact"], r["validation"]
    assert r["memory"]["code_bytes"] <= 8192, r["memory"]["code_bytes"]  # issue 15: inference code within 8 KiB
    adds = [layer for layer in r["profile"] if layer["kind"] == "ADD"][1:]  # the first runs inside its band group
    per_element = [layer["count"] / n for layer, n in zip(adds, (16 * 16 * 32, 8 * 8 * 64))]
    assert len(adds) == 2 and max(per_element) <= RESNET8_ADD_PER_ELEMENT, per_element
