"""SQUARED_DIFFERENCE (firmware/kernels/squared_difference.c), int8 and int32, with numpy broadcasting.

int8 as LiteRT's squared_difference.cc Prepare (TFLM's is the same): in double,
``twice = 2 * max(s1, s2)``, ``m_k = s_k / twice``, ``m_out = twice^2 / (2^14 * s_out)`` (left shift 7 on
each input, so 14 on the square), each through QuantizeMultiplierSmallerThanOneExp; the kernel rescales both
inputs, squares the difference and requantizes with MultiplyByQuantizedMultiplierSmallerThanOneExp (always
double rounding), clamped to the int8 range (the op has no fused activation). An output multiplier of 1 or more
(an output scale below ``twice^2 / 2^14``) makes LiteRT abort; it is refused here.
int32: the plain square of the difference. int16: LiteRT's reference has none (TFLM has; not lowered).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.quantmath import f32, quantize_multiplier_smaller_than_one_exp
from edgeq.passes.lower.registry import LowerCtx, Unsupported, lowering

SQD_LEFT_SHIFT = 7


def _operands(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, Tensor]:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, dtype)
    return x1, x2, y


def squared_difference_multipliers(s1: float, s2: float, so: float) -> tuple[float, float, float]:
    s1, s2, so = float(f32(s1)), float(f32(s2)), float(f32(so))
    twice = 2.0 * max(s1, s2)
    return s1 / twice, s2 / twice, twice * twice / (float(1 << (2 * SQD_LEFT_SHIFT)) * so)


def _smaller_than_one(m: float, what: str) -> tuple[int, int]:
    try:
        return quantize_multiplier_smaller_than_one_exp(m)
    except ValueError:
        raise Unsupported(f"the {what} multiplier {m!r} is not below 1 (LiteRT aborts on it)") from None


@lowering("SQUARED_DIFFERENCE", dtypes=("int8", "int32"))
def lower_squared_difference(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    d = g.tensor(op.outputs[0]).dtype
    x1, x2, y = _operands(g, op, d)
    if d == "int32":
        return Lowered(kernel="edgeq_squared_difference_i32", struct="edgeq_squared_difference_i32_params",
                       source="squared_difference", fields=bcast_fields(op, x1.shape, x2.shape, y.shape),
                       args=(x1.id, x2.id, y.id))
    for t in (x1, x2, y):
        need(t.quant is not None and not t.quant.per_channel and scale(t) > 0,
             f"tensor '{t.name}' is not per-tensor quantized")
    m1, m2, mo = squared_difference_multipliers(scale(x1), scale(x2), scale(y))
    q1, sh1 = _smaller_than_one(m1, "input 1")
    q2, sh2 = _smaller_than_one(m2, "input 2")
    qo, sho = _smaller_than_one(mo, "output")
    return Lowered(
        kernel="edgeq_squared_difference_s8", struct="edgeq_squared_difference_s8_params",
        source="squared_difference",
        fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (
            ("input1_offset", -zp(x1)), ("input2_offset", -zp(x2)), ("left_shift", SQD_LEFT_SHIFT),
            ("input1_multiplier", q1), ("input1_shift", sh1), ("input2_multiplier", q2), ("input2_shift", sh2),
            ("output_multiplier", qo), ("output_shift", sho))
        + requant_fields(zp(y), -128, 127, rounding_flag(ctx, litert_single=False)),
        args=(x1.id, x2.id, y.id))
