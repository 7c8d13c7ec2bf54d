"""GATHER with int16 params (TFLite 16x8; firmware/kernels/int16_gather.c): the element copy of
int8/gather.py in int16 elements (LiteRT's reference kernel is the same template)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.gather import gather_lowered


@lowering("GATHER", dtypes=("int16", "int32->int16", "int64->int16"))
def lower_gather_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    y = g.tensor(op.outputs[0])
    check_s16(g.tensor(op.inputs[0]), y)
    return gather_lowered(g, op, "edgeq_gather_s16", "edgeq_gather_s16_params", "int16_gather", y.quant.zero_point[0])
