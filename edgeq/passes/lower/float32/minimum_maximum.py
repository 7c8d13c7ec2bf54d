"""MINIMUM and MAXIMUM on float32 tensors (firmware/kernels/float32_minimum_maximum.c): one comparison per
element as LiteRT's reference (``el1 > el2 ? el1 : el2``), so exact, NaNs included (see
edgeq/passes/lower/int8/minimum_maximum.py)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.minimum_maximum import minimum_maximum_call
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("MINIMUM", "MAXIMUM", dtypes=("float32",))
def lower_minimum_maximum_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return minimum_maximum_call(g, op, "float32", "edgeq_minimum_maximum_f32", "float32_minimum_maximum")
