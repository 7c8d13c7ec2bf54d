"""AVERAGE_POOL_2D and MAX_POOL_2D with int16 activations, as reference_integer_ops' int16 pooling (the
int8 geometry and rounding of edgeq/passes/ops/pooling.py; the int16 clamp range)."""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower import LowerCtx, lowering
from edgeq.passes.ops.int16_conv import check_s16, int16_clamp
from edgeq.passes.ops.conv import raster_overlap_margin
from edgeq.passes.ops.pooling import lower_pool


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D", dtypes=("int16",))
def lower_pool_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    # The int8 lowering checks the geometry; its dtype check is on int8, so run it on an int8 view.
    as8 = dataclasses.replace(g, tensors=tuple(dataclasses.replace(t, dtype="int8") if t.id in (x.id, y.id)
                                               else t for t in g.tensors))
    low = lower_pool(as8, op, ctx)
    lo, hi = int16_clamp(op, y)
    fields = tuple((k, lo if k == "act_min" else hi if k == "act_max" else v) for k, v in low.fields)
    named = dict(fields)

    def f(k: str) -> tuple[str, int]:
        return k, int(named[k])

    return Lowered(
        kernel="edgeq_avg_pool_s16" if op.kind == "AVERAGE_POOL_2D" else "edgeq_max_pool_s16",
        struct="edgeq_pool_s16_params",
        source="int16_pooling",
        fields=fields,
        args=(x.id, y.id),
        # int16_pooling.c: the raster order of pooling.c, on 2-byte elements
        overlap_margin=raster_overlap_margin(
            dict(f(k) for k in ("batches", "in_h", "in_w", "out_h", "out_w", "stride_h", "stride_w", "pad_h",
                                "pad_w")) | dict(k_h=f("filter_h")[1], k_w=f("filter_w")[1], dilation_h=1,
                                                  dilation_w=1), x.shape[3], x.shape[3], 2, 2),
    )
