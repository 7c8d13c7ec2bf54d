"""float32 ARG_MAX and ARG_MIN (firmware/kernels/float32_arg_min_max.c): int8/arg_min_max.py's geometry
and the same C body over floats (strict comparisons as std::greater / std::less: the first of equal
extremes wins, a NaN after the first element is never chosen)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.arg_min_max import arg_fields


@lowering("ARG_MAX", "ARG_MIN", dtypes=("float32->int32", "float32->int64"))
def lower_arg_min_max_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    expect_f32(g.tensor(op.inputs[0]))
    return Lowered(kernel="edgeq_arg_min_max_f32", struct="edgeq_arg_min_max_f32_params",
                   source="float32_arg_min_max", fields=arg_fields(g, op), args=(op.inputs[0], op.outputs[0]))
