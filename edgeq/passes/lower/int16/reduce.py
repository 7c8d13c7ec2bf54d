"""int16 MEAN, REDUCE_MAX and REDUCE_MIN (firmware/kernels/int16_reduce.c): the int8 lowering's
arithmetic (edgeq.passes.lower.int8.reduce) on int16 tensors."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, zp
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int16.shape_ops import as_int8, retarget
from edgeq.passes.lower.int8.reduce import lower_reduce
from edgeq.passes.lower.registry import LowerCtx, lowering


_REDUCE = {"MEAN": "edgeq_mean_s16", "REDUCE_MAX": "edgeq_reduce_max_s16", "REDUCE_MIN": "edgeq_reduce_min_s16"}


@lowering("MEAN", "REDUCE_MAX", "REDUCE_MIN", dtypes=("int16",))
def lower_reduce_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    low = lower_reduce(as_int8(g, op), op, ctx)
    if op.kind == "MEAN":
        count = x.numel // max(y.numel, 1)
        # the reference sums raw int16 values in int32 and subtracts in_zp * count
        need(count * 32768 + abs(zp(x)) * count < 2**31, f"{count} reduced int16 elements overflow int32")
    return retarget(low, _REDUCE[op.kind], "edgeq_reduce_s16_params", "int16_reduce")
