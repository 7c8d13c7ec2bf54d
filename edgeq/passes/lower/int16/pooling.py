"""AVERAGE_POOL_2D and MAX_POOL_2D with int16 activations, as reference_integer_ops' int16 pooling (the
int8 geometry and rounding of edgeq/passes/lower/int8/pooling.py; the int16 clamp range)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.geometry import raster_overlap_margin
from edgeq.passes.lower.int16.conv import check_s16, int16_clamp
from edgeq.passes.lower.int8.pooling import pool_fields, pool_geometry


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D", dtypes=("int16",))
def lower_pool_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    geo = pool_geometry(op, x, y)
    lo, hi = int16_clamp(op, y)
    return Lowered(
        kernel="edgeq_avg_pool_s16" if op.kind == "AVERAGE_POOL_2D" else "edgeq_max_pool_s16",
        struct="edgeq_pool_s16_params",
        source="int16_pooling",
        fields=pool_fields(geo, lo, hi),
        args=(x.id, y.id),
        # int16_pooling.c: the raster order of pooling.c, on 2-byte elements
        overlap_margin=raster_overlap_margin(geo, geo["channels"], geo["channels"], 2, 2),
    )
