"""Comparisons of float32 tensors (firmware/kernels/float32_compare.c), bool output: one IEEE comparison per
element, as LiteRT's comparisons.cc, so exact (NaNs included)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.compare import compare_fields, compare_operands
from edgeq.passes.lower.int8.index_ops import COMPARISONS
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering(*COMPARISONS, dtypes=("float32->bool",))
def lower_compare_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = compare_operands(g, op, "float32")
    return Lowered(kernel="edgeq_compare_f32", struct="edgeq_compare_f32_params", source="float32_compare",
                   fields=compare_fields(op, x1, x2, y), args=(x1.id, x2.id, y.id))
