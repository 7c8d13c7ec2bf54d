"""SQUARED_DIFFERENCE on float32 tensors (firmware/kernels/float32_squared_difference.c): ``d = a - b; d * d``
as LiteRT's reference, two IEEE operations per element, so exact; numpy broadcasting."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SQUARED_DIFFERENCE", dtypes=("float32",))
def lower_squared_difference_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x1, x2, y)
    return Lowered(kernel="edgeq_squared_difference_f32", struct="edgeq_squared_difference_f32_params",
                   source="float32_squared_difference", fields=bcast_fields(op, x1.shape, x2.shape, y.shape),
                   args=(x1.id, x2.id, y.id))
