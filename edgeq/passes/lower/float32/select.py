"""SELECT and SELECT_V2 with float32 values (firmware/kernels/float32_select.c): values copied as stored with
the broadcasting of LiteRT's select.cc (see edgeq/passes/lower/int8/select.py), so exact."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int8.select import select_call
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SELECT", "SELECT_V2", dtypes=("bool->float32",))
def lower_select_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return select_call(g, op, "float32", "edgeq_select_f32", "float32_select")
