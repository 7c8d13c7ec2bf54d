"""Comparisons of int16 tensors (firmware/kernels/int16_compare.c), bool output, as LiteRT 2.3's reference
(measured in tests/kernels/test_compare.py::test_int16_*, against emulations of every left shift): EQUAL and
NOT_EQUAL rescale both operands as the int8 comparisons (left shift 8, each input's scale as its multiplier:
edgeq/passes/lower/int8/compare.py), LESS, LESS_EQUAL, GREATER and GREATER_EQUAL compare the stored values.
(Older LiteRT sources list int16 for EQUAL, LESS and GREATER_EQUAL only, as stored values.) TFLM has no int16
comparison."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.compare import compare_fields, compare_operands, scaled_fields
from edgeq.passes.lower.int8.index_ops import COMPARISONS
from edgeq.passes.lower.registry import LowerCtx, lowering

RESCALED = ("EQUAL", "NOT_EQUAL")


@lowering(*COMPARISONS, dtypes=("int16->bool",))
def lower_compare_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = compare_operands(g, op, "int16")
    if op.kind in RESCALED:
        return Lowered(kernel="edgeq_compare_scaled_s16", struct="edgeq_compare_scaled_s16_params",
                       source="int16_compare", fields=scaled_fields(op, x1, x2, y), args=(x1.id, x2.id, y.id))
    return Lowered(kernel="edgeq_compare_s16", struct="edgeq_compare_s16_params", source="int16_compare",
                   fields=compare_fields(op, x1, x2, y), args=(x1.id, x2.id, y.id))
