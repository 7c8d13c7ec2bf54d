"""LOG_SOFTMAX over the last axis on float32 tensors (firmware/kernels/float32_log_softmax.c): LiteRT's
reference_ops::LogSoftmax (max, sum of exp(x - max) in index order, x - max - log(sum)) with edgeq's own exp
and log (no libm on the firmware), within edgeq.quality.compare.FLOAT_RTOL."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need
from edgeq.passes.lower.float32.common import unary_io
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("LOG_SOFTMAX", dtypes=("float32",))
def lower_log_softmax_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    need(len(x.shape) >= 1 and x.shape[-1] > 0, f"log-softmax input shape {x.shape}")
    depth = int(x.shape[-1])
    return Lowered(kernel="edgeq_log_softmax_f32", struct="edgeq_log_softmax_f32_params",
                   source="float32_log_softmax", fields=(("outer", x.numel // depth), ("depth", depth)),
                   args=(x.id, y.id))
