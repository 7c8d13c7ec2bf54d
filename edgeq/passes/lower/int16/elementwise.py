"""ADD, SUB and MUL with int16 activations (TFLite 16x8), as LiteRT's reference kernels.

* ADD: the converter sets ``pot_scale_int16`` false, so LiteRT's add.cc Prepare takes its general path:
  the int8 arithmetic of edgeq/passes/lower/int8/elementwise.py with ``left_shift`` 15 instead of 20 (double
  multipliers through QuantizeMultiplierSmallerThanOneExp). The power-of-two path is refused.
* SUB: sub.cc's general path, ADD's parameters with the scaled second operand subtracted (measured in
  tests/kernels/test_sub_int16.py).
* MUL: the int8 general path on int16 values (multiplier ``s1 * s2 / s_out`` in float32 as LiteRT, in
  double as TFLM).
Rounding measured in tests/kernels/test_int16_ops.py (test_add_all_input_values, test_mul_all_input_values).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, scale
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int8.elementwise import add_quant_fields, binary_call, mul_quant_fields
from edgeq.passes.lower.int16.conv import check_s16, int16_clamp

ADD_LEFT_SHIFT_S16 = 15
# Whether LiteRT 2.3's reference requantizes these with single rounding (measured; see the tests).
LITERT_SINGLE_ROUNDING = {"ADD": False, "SUB": False, "MUL": False}


def _operands(g: Graph, op: Op):
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    check_s16(x1, x2, y)
    for t in (x1, x2, y):
        need(scale(t) > 0, f"tensor '{t.name}' has scale {scale(t)}")
    return x1, x2, y


@lowering("ADD", "SUB", dtypes=("int16",))
def lower_add_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    need(not op.attrs.get("pot_scale_int16", False), f"{op.kind} with pot_scale_int16 (the power-of-two path)")
    return binary_call(op, ctx, (x1, x2, y), add_quant_fields(x1, x2, y, ADD_LEFT_SHIFT_S16), int16_clamp(op, y),
                       kernel="edgeq_add_s16" if op.kind == "ADD" else "edgeq_sub_s16",
                       struct="edgeq_add_s16_params", source="int16_elementwise",
                       litert_single=LITERT_SINGLE_ROUNDING[op.kind])


@lowering("MUL", dtypes=("int16",))
def lower_mul_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    return binary_call(op, ctx, (x1, x2, y), mul_quant_fields(ctx, x1, x2, y), int16_clamp(op, y),
                       kernel="edgeq_mul_s16", struct="edgeq_mul_s16_params", source="int16_elementwise",
                       litert_single=LITERT_SINGLE_ROUNDING["MUL"])
