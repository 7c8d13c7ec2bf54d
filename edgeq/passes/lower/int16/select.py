"""SELECT and SELECT_V2 with int16 values (firmware/kernels/int16_select.c): values copied as stored with the
broadcasting of LiteRT's select.cc (see edgeq/passes/lower/int8/select.py)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.select import select_call
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SELECT", "SELECT_V2", dtypes=("bool->int16",))
def lower_select_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return select_call(g, op, "int16", "edgeq_select_s16", "int16_select")
