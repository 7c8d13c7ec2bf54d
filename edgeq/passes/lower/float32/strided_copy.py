"""float32 TRANSPOSE, TILE, SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH and REVERSE_V2: the strided copy of
int8/strided_copy.py in float elements (firmware/kernels/float32_strided_copy.c, the same C body): LiteRT
copies the values."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.strided_copy import copy_params


@lowering("TRANSPOSE", "TILE", "SLICE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "REVERSE_V2", dtypes=("float32",))
def lower_strided_copy_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    return Lowered(
        kernel="edgeq_strided_copy_f32",
        struct="edgeq_strided_copy_f32_params",
        source="float32_strided_copy",
        fields=copy_params(g, op),
        args=(x.id, y.id),
    )
