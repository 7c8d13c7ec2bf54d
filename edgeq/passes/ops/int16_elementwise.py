"""ADD and MUL with int16 activations (TFLite 16x8), as LiteRT's reference kernels.

* ADD: the converter sets ``pot_scale_int16`` false, so LiteRT's add.cc Prepare takes its general path:
  the int8 arithmetic of edgeq/passes/ops/binary.py with ``left_shift`` 15 instead of 20 (double
  multipliers through QuantizeMultiplierSmallerThanOneExp). The power-of-two path is refused.
* MUL: the int8 general path on int16 values (multiplier ``s1 * s2 / s_out`` in float32 as LiteRT, in
  double as TFLM).
Rounding measured in tests/kernels/test_int16_ops.py (test_add_all_input_values).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower import LowerCtx, lowering, need, rounding_flag, scale, zp
from edgeq.passes.ops.binary import _bcast_fields, mul_multiplier
from edgeq.passes.ops.int16_conv import check_s16, int16_clamp
from edgeq.passes.quantmath import f32, quantize_multiplier, quantize_multiplier_smaller_than_one_exp

ADD_LEFT_SHIFT_S16 = 15
# Whether LiteRT 2.3's reference requantizes these with single rounding (measured; see the tests).
LITERT_SINGLE_ROUNDING = {"ADD": False, "MUL": False}


def _operands(g: Graph, op: Op):
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    check_s16(x1, x2, y)
    for t in (x1, x2, y):
        need(scale(t) > 0, f"tensor '{t.name}' has scale {scale(t)}")
    return x1, x2, y


@lowering("ADD", dtypes=("int16",))
def lower_add_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    need(not op.attrs.get("pot_scale_int16", False), "ADD with pot_scale_int16 (the LSTM power-of-two path)")
    s1, s2, so = float(f32(scale(x1))), float(f32(scale(x2))), float(f32(scale(y)))
    twice = 2.0 * max(s1, s2)
    m1, m2, mo = s1 / twice, s2 / twice, twice / (float(1 << ADD_LEFT_SHIFT_S16) * so)
    need(0.0 < mo < 1.0, f"output scale {so:g} is too small for input scales {s1:g}, {s2:g}")
    q1, sh1 = quantize_multiplier_smaller_than_one_exp(m1)
    q2, sh2 = quantize_multiplier_smaller_than_one_exp(m2)
    qo, sho = quantize_multiplier_smaller_than_one_exp(mo)
    need(sho <= 0, "output multiplier rounds up to 1")
    lo, hi = int16_clamp(op, y)
    return Lowered(
        kernel="edgeq_add_s16",
        struct="edgeq_add_s16_params",
        source="int16_elementwise",
        fields=_bcast_fields(op, x1, x2, y) + (
            ("input1_offset", -zp(x1)), ("input2_offset", -zp(x2)), ("output_offset", zp(y)),
            ("left_shift", ADD_LEFT_SHIFT_S16),
            ("input1_multiplier", q1), ("input1_shift", sh1),
            ("input2_multiplier", q2), ("input2_shift", sh2),
            ("output_multiplier", qo), ("output_shift", sho),
            ("act_min", lo), ("act_max", hi),
            ("rounding", rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING["ADD"])),
        ),
        args=(x1.id, x2.id, y.id),
        inplace=True,  # out[i] is written after in1[i], in2[i] are read
    )


@lowering("MUL", dtypes=("int16",))
def lower_mul_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = _operands(g, op)
    qm, sh = quantize_multiplier(mul_multiplier(scale(x1), scale(x2), scale(y),
                                                float32_math=(ctx.rounding == "litert")))
    lo, hi = int16_clamp(op, y)
    return Lowered(
        kernel="edgeq_mul_s16",
        struct="edgeq_mul_s16_params",
        source="int16_elementwise",
        fields=_bcast_fields(op, x1, x2, y) + (
            ("input1_offset", -zp(x1)), ("input2_offset", -zp(x2)), ("output_offset", zp(y)),
            ("output_multiplier", qm), ("output_shift", sh),
            ("act_min", lo), ("act_max", hi),
            ("rounding", rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING["MUL"])),
        ),
        args=(x1.id, x2.id, y.id),
        inplace=True,
    )
