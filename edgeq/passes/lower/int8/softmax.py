"""SOFTMAX, int8 in and out (output scale 1/256, zero point -128), over the last axis.

LiteRT (BUILTIN_REF) and TFLM both run reference_ops::Softmax: gemmlowp fixed-point exp of (x - max) * beta *
scale in Q5.26, sum in Q12.19, fixed-point reciprocal (the C is in softmax.c, on edgeq_fixedpoint.h). The only
build-dependent part is the rescaling of the difference (MultiplyByQuantizedMultiplierGreaterThanOne and
PreprocessSoftmaxScaling's cap). LiteRT's activation kernels were measured to round twice like TFLM (RELU and
LEAKY_RELU ties, tests/kernels/test_activations.py), so both modes use the double-rounding parameters (real
multiplier capped at 2^31 - 1, shift up to 31). The flavour could not show here anyway: the difference is only
ever shifted left, and a left shift followed by the rounding doubling high multiply rounds exactly like the
single-rounding multiply.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import calculate_input_radius, preprocess_softmax_scaling

K_SCALED_DIFF_INTEGER_BITS = 5


def softmax_params(beta: float, in_scale: float, single_rounding: bool) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + CalculateInputRadius: (input_multiplier, input_left_shift, diff_min).

    The real multiplier is capped at 2^30 - 1 in single-rounding builds and 2^31 - 1 otherwise, and only
    single-rounding builds clamp QuantizeMultiplier's shift to 30 (so a double-rounding shift can be 31).
    A product beta * scale * 2^26 at or below 1 is refused: LiteRT's and TFLM's Prepare abort on it.
    """
    try:
        mult, shift = preprocess_softmax_scaling(beta, in_scale, K_SCALED_DIFF_INTEGER_BITS, single_rounding)
    except ValueError:
        need(False, f"input scale {float(in_scale):.4g} x beta {float(beta):g} is too small: at or below 2^-26 = "
                    "1.49e-08, LiteRT's and TFLite Micro's SOFTMAX stop the process (PreprocessSoftmaxScaling)")
    return mult, shift, -calculate_input_radius(K_SCALED_DIFF_INTEGER_BITS, shift)


@lowering("SOFTMAX")
def lower_softmax(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(len(x.shape) >= 1 and x.shape == y.shape, f"input shape {x.shape} != output shape {y.shape}")
    need(zp(y) == -128, f"output zero point is {zp(y)}; the int8 softmax needs -128")
    need(abs(float(scale(y)) - 1.0 / 256) <= 0.001 / 256, f"output scale is {scale(y)}; the int8 softmax needs 1/256")
    if ctx.rounding == "tflm":
        need(np.float32(scale(y)) == np.float32(1.0 / 256), "TFLite Micro needs an output scale of exactly 1/256")
    depth = int(x.shape[-1])
    need(1 <= depth < 4096, f"softmax over {depth} values (the Q12 sum of exponentials holds fewer than 4096)")
    flag = rounding_flag(ctx, litert_single=False)
    beta = float(np.float32(op.attrs.get("beta", 1.0)))
    mult, shift, diff_min = softmax_params(beta, scale(x), single_rounding=bool(flag))
    return Lowered(
        kernel="edgeq_softmax_s8", struct="edgeq_softmax_s8_params", source="softmax",
        fields=(
            ("outer", x.numel // depth), ("depth", depth), ("input_multiplier", mult),
            ("input_left_shift", shift), ("diff_min", diff_min), ("rounding", flag),
        ),
        args=(x.id, y.id),
    )
