"""DIV and FLOOR_DIV on float32 tensors (firmware/kernels/float32_div.c), numpy broadcasting. DIV: one IEEE
division then the fused activation's clamp, as LiteRT's reference (whose clamp without an activation is [-FLT_MAX, FLT_MAX], so a
division by zero gives +-FLT_MAX): exact."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need
from edgeq.passes.lower.float32.common import expect_f32, float_act_range
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("DIV", dtypes=("float32",))
def lower_div_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"DIV with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x1, x2, y)
    lo, hi = float_act_range(op)
    return Lowered(kernel="edgeq_div_f32", struct="edgeq_div_f32_params", source="float32_div",
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (("act_min", lo), ("act_max", hi)),
                   args=(x1.id, x2.id, y.id))


@lowering("FLOOR_DIV", dtypes=("float32",))
def lower_floor_div_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    """floor_div.cc: ``floor((double)a / (double)b)`` stored as float; exact (double arithmetic as the reference).
    float32 FLOOR_MOD (std::fmod) is not lowered."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"FLOOR_DIV with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x1, x2, y)
    return Lowered(kernel="edgeq_floor_div_f32", struct="edgeq_floor_div_f32_params", source="float32_div",
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape), args=(x1.id, x2.id, y.id))
