"""MINIMUM and MAXIMUM on int16 tensors (firmware/kernels/int16_minimum_maximum.c): the stored values compared
as LiteRT's reference does (see edgeq/passes/lower/int8/minimum_maximum.py)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.minimum_maximum import minimum_maximum_call
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("MINIMUM", "MAXIMUM", dtypes=("int16",))
def lower_minimum_maximum_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return minimum_maximum_call(g, op, "int16", "edgeq_minimum_maximum_s16", "int16_minimum_maximum")
