"""BATCH_MATMUL on float32 tensors (firmware/kernels/float32_batch_matmul.c): reference_ops::BatchMatMul's
accumulation order, the geometry of the int8 lowering (edgeq.passes.lower.int8.batch_matmul)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.batch_matmul import batch_matmul_geometry
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("BATCH_MATMUL", dtypes=("float32",))
def lower_batch_matmul_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    lhs, rhs, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(lhs, rhs, y)
    return Lowered(
        kernel="edgeq_batch_matmul_f32", struct="edgeq_batch_matmul_f32_params", source="float32_batch_matmul",
        fields=batch_matmul_geometry(g, op), args=(lhs.id, rhs.id, y.id),
    )
