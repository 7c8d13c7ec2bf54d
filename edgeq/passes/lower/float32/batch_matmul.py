"""BATCH_MATMUL on float32 tensors (firmware/kernels/float32_batch_matmul.c): reference_ops::BatchMatMul's
accumulation order, the geometry of the int8 lowering (edgeq.passes.lower.int8.batch_matmul).

A weight-only model's constant int8 rhs (handed over by edgeq.passes.graph.weights, scales per tensor or per
output column) runs in ``edgeq_batch_matmul_f32_s8w``: each rhs element is ``(float)r * scale[c]`` in the
inner loop, LiteRT's DEQUANTIZE value."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.batch_matmul import batch_matmul_geometry
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("BATCH_MATMUL", dtypes=("float32",))
def lower_batch_matmul_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    lhs, rhs, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(lhs, y)
    geometry = batch_matmul_geometry(g, op)
    if rhs.dtype == "float32":
        return Lowered(
            kernel="edgeq_batch_matmul_f32", struct="edgeq_batch_matmul_f32_params", source="float32_batch_matmul",
            fields=(*geometry, ("scales", None)), args=(lhs.id, rhs.id, y.id),
        )
    need(rhs.dtype == "int8" and rhs.is_const and rhs.quant is not None
         and all(z == 0 for z in rhs.quant.zero_point), f"rhs '{rhs.name}' is not float32 or constant symmetric int8")
    cols = dict(geometry)["cols"]
    col_axis = len(rhs.shape) - (2 if op.attrs.get("adj_y", False) else 1)
    n = len(rhs.quant.scale)
    need(n == 1 or (n == cols and rhs.quant.axis == col_axis),
         f"int8 rhs has {n} scales along axis {rhs.quant.axis}, not one or one per output column (axis {col_axis})")
    scales = np.array(rhs.quant.scale * (cols if n == 1 else 1), dtype=np.float32)
    return Lowered(
        kernel="edgeq_batch_matmul_f32_s8w", struct="edgeq_batch_matmul_f32_params", source="float32_batch_matmul",
        fields=(*geometry, ("scales", arr(op, "scales", scales, "float"))), args=(lhs.id, rhs.id, y.id),
    )
