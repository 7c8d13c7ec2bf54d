"""float32 MIRROR_PAD: int8/mirror_pad.py's index tables in float elements (firmware/kernels/
float32_mirror_pad.c, the same C body); LiteRT copies the values."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.mirror_pad import mirror_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("MIRROR_PAD", dtypes=("float32",))
def lower_mirror_pad_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    return Lowered(kernel="edgeq_mirror_pad_f32", struct="edgeq_mirror_pad_f32_params", source="float32_mirror_pad",
                   fields=mirror_fields(g, op), args=(x.id, y.id))
