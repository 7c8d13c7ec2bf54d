"""float32 GATHER (firmware/kernels/float32_gather.c): the element copy of int8/gather.py in float
elements (an index out of range writes 0.0)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.gather import gather_lowered


@lowering("GATHER", dtypes=("float32", "int32->float32", "int64->float32"))
def lower_gather_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    expect_f32(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    return gather_lowered(g, op, "edgeq_gather_f32", "edgeq_gather_f32_params", "float32_gather", 0)
