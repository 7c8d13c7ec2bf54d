"""BATCH_MATMUL in the 16x8 scheme (firmware/kernels/int16_batch_matmul.c): int16 operands with zero points
0, int64 accumulation and the int64 MultiplyByQuantizedMultiplier (see edgeq.passes.lower.int8.batch_matmul
for the geometry and the multiplier)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, zp
from edgeq.passes.lower.int16.conv import check_s16, reduce_multiplier
from edgeq.passes.lower.int8.batch_matmul import batch_matmul_geometry, matmul_multiplier
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("BATCH_MATMUL", dtypes=("int16",))
def lower_batch_matmul_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    lhs, rhs, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    check_s16(lhs, rhs, y)
    need(zp(lhs) == 0 and zp(rhs) == 0, "int16 operands with a nonzero zero point")
    reduced, total = reduce_multiplier(*matmul_multiplier(lhs, rhs, y))
    return Lowered(
        kernel="edgeq_batch_matmul_s16", struct="edgeq_batch_matmul_s16_params", source="int16_batch_matmul",
        fields=(*batch_matmul_geometry(g, op), ("reduced_mult", reduced), ("total_shift", total),
                ("output_offset", zp(y))),
        args=(lhs.id, rhs.id, y.id),
    )
