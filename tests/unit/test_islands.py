"""Which float parts of an int8 model become tables (edgeq.frontend.islands) and which stay float32, and the
notes that say so. The tables' bytes are checked against LiteRT in tests/kernels/test_lut.py."""

from __future__ import annotations

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as s

from edgeq.frontend.convert import mixed_int8_float32
from edgeq.frontend.islands import find_islands, float_notes, float_ops, layer_name, read_model
from edgeq.frontend.tflite.reader import read_tflite
from kernels.harness import build_tflite

I8 = dict(shape=[1, 4], dtype="int8", scale=0.05, zero_point=0)
F32 = dict(shape=[1, 4], dtype="float32")


def model(tensors, ops, inputs, outputs) -> bytes:
    named = [dict(t, name=t.get("name", f"functional/layer_{i}/t")) for i, t in enumerate(tensors)]
    return build_tflite(named, ops, inputs, outputs)


def test_a_neg_island_becomes_one_lut_op_with_a_constant_table():
    tfl = model([I8, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None),
                                      ("QUANTIZE", [2], [3], None)], [0], [3])
    (island,) = find_islands(read_tflite(tfl))
    assert [op.kind for op in island.ops] == ["NEG"] and island.source == 0 and island.output == 3
    g = read_model(tfl)
    (op,) = g.ops
    assert op.kind == "LUT" and op.inputs[0] == 0 and op.outputs == (3,) and op.attrs["island"] == ("NEG",)
    table = g.tensor(op.inputs[1])
    assert table.is_const and table.dtype == "int8" and table.shape == (256,)
    assert table.data[5] == -5 and table.data[256 - 7] == 7  # -(q * 0.05) / 0.05: entry k for (int8)k
    assert op.location == "functional/layer_2/t"
    assert not float_ops(g)


def test_a_float_op_with_two_int8_sources_stays_float():
    """DEQUANTIZE(a), DEQUANTIZE(b) -> ADD -> QUANTIZE: a function of two values, no table."""
    tfl = model([I8, I8, F32, F32, F32, I8],
                [("DEQUANTIZE", [0], [2], None), ("DEQUANTIZE", [1], [3], None),
                 ("ADD", [2, 3], [4], s.AddOptionsT()), ("QUANTIZE", [4], [5], None)], [0, 1], [5])
    assert find_islands(read_tflite(tfl)) == []
    assert [op.kind for op in float_ops(read_model(tfl))] == ["ADD"]
    notes = float_notes(tfl)
    assert len(notes) == 1 and "stay float32" in notes[0] and "layer_4 (ADD)" in notes[0]


@pytest.mark.parametrize("case", ["not elementwise", "broadcast constant", "float output", "two quantizes"])
def test_what_is_not_an_island(case):
    if case == "not elementwise":  # SOFTMAX mixes elements
        tfl = model([I8, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("SOFTMAX", [1], [2], s.SoftmaxOptionsT()),
                                          ("QUANTIZE", [2], [3], None)], [0], [3])
    elif case == "broadcast constant":  # a per-column constant: element i's function depends on i
        c = dict(shape=[1, 4], dtype="float32", data=np.arange(4, dtype=np.float32))
        tfl = model([I8, F32, c, F32, I8], [("DEQUANTIZE", [0], [1], None), ("MUL", [1, 2], [3], s.MulOptionsT()),
                                             ("QUANTIZE", [3], [4], None)], [0], [4])
    elif case == "float output":
        tfl = model([I8, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None),
                                          ("QUANTIZE", [2], [3], None)], [0], [3, 2])
    else:
        tfl = model([I8, F32, F32, I8, I8], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None),
                                              ("QUANTIZE", [2], [3], None), ("QUANTIZE", [2], [4], None)],
                    [0], [3, 4])
    assert find_islands(read_tflite(tfl)) == []
    assert float_ops(read_model(tfl))


def test_notes_name_the_tables_and_an_all_int8_model_has_none():
    tfl = model([I8, F32, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None),
                                          ("RELU", [2], [3], None), ("QUANTIZE", [3], [4], None)], [0], [4])
    (note,) = float_notes(tfl)
    assert "1 float island(s)" in note and "layer_3 (NEG RELU)" in note
    plain = model([I8, I8], [("RELU", [0], [1], None)], [0], [1])
    assert float_notes(plain) == []


def test_mixed_models_need_the_io_types_asked_for():
    island = model([I8, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None),
                                         ("QUANTIZE", [2], [3], None)], [0], [3])
    assert mixed_int8_float32(island)
    assert not mixed_int8_float32(island, ("int8", "uint8"))
    float_out = model([I8, F32, F32], [("DEQUANTIZE", [0], [1], None), ("NEG", [1], [2], None)], [0], [2])
    assert not mixed_int8_float32(float_out)  # a float32 output where int8 was asked for


def test_layer_names():
    assert layer_name("functional_1/layer_normalization_1/Neg") == "layer_normalization_1"
    assert layer_name("functional_2_1/dense_6_1/Elu;functional_2_1/dense_6_1/x") == "dense_6_1"
    assert layer_name("tfl.quantize") == "tfl.quantize"


def test_an_island_the_reference_cannot_run_stays_float():
    """LiteRT 2.3's BUILTIN_REF has no ELU: no table can be computed (or checked), the ELU stays a float op."""
    tfl = model([I8, F32, F32, I8], [("DEQUANTIZE", [0], [1], None), ("ELU", [1], [2], None),
                                      ("QUANTIZE", [2], [3], None)], [0], [3])
    assert len(find_islands(read_tflite(tfl))) == 1
    assert [op.kind for op in read_model(tfl).ops] == ["DEQUANTIZE", "ELU", "QUANTIZE"]
    (note,) = float_notes(tfl)
    assert "stay float32" in note and "(ELU)" in note
