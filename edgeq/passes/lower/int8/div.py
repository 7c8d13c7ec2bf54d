"""DIV, FLOOR_DIV and FLOOR_MOD on int32 tensors (firmware/kernels/div.c), numpy broadcasting. DIV: LiteRT's
div.cc reference divides with C integer division (truncation) and clamps to the fused activation's int32 range. The kernel lives with the int8
lowerings as the other integer-index kernels do (index_ops.py).

int8 DIV (the converter writes it for a quantized ``a / b``) is not lowered. LiteRT 2.3 runs it (the
reference's DivElementwise: a fixed-point reciprocal of the divisor, GetReciprocal, then
MultiplyByQuantizedMultiplierSmallerThanOneExp with ``total_shift = output_shift - recip_shift - headroom``),
but for a small dividend and a large divisor that shift is below -31 (|q1 - zp1| = 1 has headroom 30, a divisor
of 128 or more a reciprocal shift of 8), and gemmlowp's RoundingDivideByPOT then shifts an int32 by 32 or more:
undefined behaviour, whose result differs by CPU and compiler. There is no defined result to be bit-exact with
on ordinary inputs, so the op is refused (tests/kernels/test_div.py shows LiteRT running it and edgeq refusing
it)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need
from edgeq.passes.lower.int8.index_ops import _ACT_RANGE as INT32_ACT_RANGE
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("DIV", dtypes=("int32",))
def lower_div_i32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"DIV with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, "int32")
    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in INT32_ACT_RANGE, f"fused activation {act}")
    lo, hi = INT32_ACT_RANGE[act]
    return Lowered(kernel="edgeq_div_i32", struct="edgeq_div_i32_params", source="div",
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (("act_min", lo), ("act_max", hi)),
                   args=(x1.id, x2.id, y.id))


@lowering("FLOOR_DIV", "FLOOR_MOD", dtypes=("int32",))
def lower_floor_div_mod_i32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    """FLOOR_DIV / FLOOR_MOD on int32 (floor_div.cc: floor of the double quotient; floor_mod.cc: C remainder
    moved to the divisor's sign)."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, "int32")
    return Lowered(kernel="edgeq_floor_div_mod_i32", struct="edgeq_floor_div_mod_i32_params", source="div",
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (("is_mod", int(op.kind == "FLOOR_MOD")),),
                   args=(x1.id, x2.id, y.id))
