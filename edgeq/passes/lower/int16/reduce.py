"""int16 MEAN, SUM, REDUCE_MAX and REDUCE_MIN (firmware/kernels/int16_reduce.c): the int8 lowering's
arithmetic (edgeq.passes.lower.int8.reduce) on int16 tensors."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, zp
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int16.shape_ops import as_int8, retarget
from edgeq.passes.lower.int8.reduce import lower_reduce
from edgeq.passes.lower.registry import LowerCtx, lowering


_REDUCE = {"MEAN": "edgeq_mean_s16", "REDUCE_MAX": "edgeq_reduce_max_s16", "REDUCE_MIN": "edgeq_reduce_min_s16",
           "SUM": "edgeq_sum_s16"}


@lowering("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", dtypes=("int16",))
def lower_reduce_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    check_s16(x, y)
    if op.kind == "SUM":  # the 16x8 converter gives SUM its input's scale (a multiplier of 1)
        need(x.quant == y.quant, "int16 SUM with different input and output quantization (LiteRT's reduce.cc "
                                 "requires identical ones)")
    low = lower_reduce(as_int8(g, op), op, ctx)
    if op.kind in ("MEAN", "SUM"):
        count = x.numel // max(y.numel, 1)
        # the reference sums raw int16 values in int32 and subtracts in_zp * count
        need(count * 32768 + abs(zp(x)) * count < 2**31, f"{count} reduced int16 elements overflow int32")
        # SUM's multiplier of 1 is 2^30 with a left shift of 1 (MultiplyByQuantizedMultiplier shifts the sum)
        need(op.kind == "MEAN" or count * 65536 < 2**31, f"{count} reduced int16 elements overflow int32")
    return retarget(low, _REDUCE[op.kind], "edgeq_reduce_s16_params", "int16_reduce")
