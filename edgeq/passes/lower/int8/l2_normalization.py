"""L2_NORMALIZATION, int8 (firmware/kernels/l2_normalization.c): LiteRT's reference_integer_ops::
L2Normalization (tf.math.l2_normalize converts to it).

Along the innermost axis, per row: acc = sum (x - zp)^2 (int32), then GetInvSqrtQuantizedMultiplierExp(acc,
kReverseShift = -1) gives 1 / sqrt(acc) as (m, shift) -- gemmlowp Newton-Raphson, at run time in the kernel
since acc is data (the same integer steps as :func:`edgeq.passes.lower.int8.activations.inv_sqrt_multiplier_exp`)
-- and out = clamp(MultiplyByQuantizedMultiplier(x - zp, m, shift + 7), -128, 127). acc <= 1 gives
m = INT32_MAX, shift 0. LiteRT's Prepare requires the output scale 1/128, zero point 0, and no fused
activation; others are refused here too.

Rounding: the kernel calls MultiplyByQuantizedMultiplier, the function LiteRT 2.3's FULLY_CONNECTED
reference rounds once with (int8/fully_connected.py, measured there), so the LiteRT flavour rounds once;
TFLM rounds twice. The tests here pass with either flag (ties are rare for these multipliers), so the
LiteRT choice rests on that shared function, not on a measurement of this op.
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering

LITERT_SINGLE_ROUNDING = True


@lowering("L2_NORMALIZATION")
def lower_l2_normalization(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 1, f"L2_NORMALIZATION with {len(op.inputs)} inputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(tuple(x.shape) == tuple(y.shape) and len(x.shape) >= 1, f"shapes {x.shape} -> {y.shape}")
    need(op.attrs.get("fused_activation_function", "NONE") == "NONE", "a fused activation (LiteRT refuses it)")
    need(scale(y) == 1.0 / 128 and zp(y) == 0,
         f"output scale {scale(y)}, zero point {zp(y)}: LiteRT requires 1/128 and 0")
    need(x.quant is not None and not x.quant.per_channel, "the input is not per-tensor quantized")
    depth = int(x.shape[-1])
    need(0 < depth <= 32767, f"depth {depth}: the int32 sum of squares could overflow")
    return Lowered(
        kernel="edgeq_l2_normalization_s8",
        struct="edgeq_l2_normalization_s8_params",
        source="l2_normalization",
        fields=(("outer", x.numel // depth), ("depth", depth), ("input_offset", -zp(x)),
                *requant_fields(0, -128, 127, rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING))),
        args=(x.id, y.id),
    )
