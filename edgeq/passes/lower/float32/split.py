"""SPLIT, SPLIT_V and UNPACK on float32 (firmware/kernels/float32_split.c): the int8 lowering's layout
(:func:`edgeq.passes.lower.int8.split.split_layout`), in elements of four bytes; plain copies."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.split import split_lowered
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SPLIT", "SPLIT_V", "UNPACK", dtypes=("float32",))
def lower_split_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return split_lowered(g, op, expect_f32, "f32", "float32_split")
