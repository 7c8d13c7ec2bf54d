"""LOGICAL_AND, LOGICAL_OR and LOGICAL_NOT on bool tensors (firmware/kernels/logical.c), e.g. between
comparisons in an int8 model (``keras.ops.logical_and(x > a, x < b)``).

LiteRT's logical.cc: AND / OR with numpy broadcasting (BroadcastBinaryFunction4DSlow beyond equal shapes),
NOT element-wise; bools are bytes 0 / 1 and so are the results. The broadcast walk is MINIMUM / MAXIMUM's
(:func:`edgeq.passes.lower.int8.minimum_maximum.bcast_fields`).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("LOGICAL_AND", "LOGICAL_OR", dtypes=("bool",))
def lower_logical(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, "bool")
    return Lowered(kernel="edgeq_logical_b8", struct="edgeq_logical_params", source="logical",
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (("is_or", int(op.kind == "LOGICAL_OR")),),
                   args=(x1.id, x2.id, y.id))


@lowering("LOGICAL_NOT", dtypes=("bool",))
def lower_logical_not(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, f"LOGICAL_NOT with {len(op.inputs)} inputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "bool")
    expect_dtype(y, "bool")
    need(x.numel == y.numel, "input and output sizes differ")
    return Lowered(kernel="edgeq_logical_not_b8", struct="edgeq_logical_not_params", source="logical",
                   fields=(("size", x.numel),), args=(x.id, y.id))
