"""LOG_SOFTMAX over the last axis, int8 in and out (firmware/kernels/log_softmax.c), as LiteRT's reference
(activations.cc LogSoftmaxPrepare for kReference, reference_integer_ops::LogSoftmax; TFLM's is the same code).

Prepare: the output must have scale 16/256 and zero point 127 (LiteRT refuses anything else).
PreprocessLogSoftmaxScalingExp(beta 1, (double)input_scale, 5 integer bits): the input multiplier and left
shift of PreprocessSoftmaxScaling (int8/softmax.py's softmax_params), then the reverse scaling divisor
``2^(31 - left_shift) / input_multiplier`` through QuantizeMultiplierSmallerThanOneExp, and
``diff_min = -CalculateInputRadius(5, left_shift)``. The kernel's fixed-point exp and log are gemmlowp's and
TFLite's, operation by operation. The only build-dependent step is the reverse scaling
(MultiplyByQuantizedMultiplier with a right shift), which only moves the threshold below which an output is
-128; it is done in the flavour measured for LiteRT's other activation kernels (double, as TFLM). The models of
tests/kernels/test_log_softmax.py match LiteRT and TFLM bit for bit with either flavour (they do not reach a
threshold where the two differ)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need, rounding_flag, scale, zp
from edgeq.passes.lower.int8.softmax import softmax_params
from edgeq.passes.lower.quantmath import f32, quantize_multiplier_smaller_than_one_exp
from edgeq.passes.lower.registry import LowerCtx, Unsupported, lowering

LITERT_SINGLE_ROUNDING = False  # as LiteRT's other activation kernels (int8/softmax.py)


def log_softmax_params(in_scale: float, single_rounding: bool) -> tuple[int, int, int, int, int]:
    """(input_multiplier, input_left_shift, reverse_multiplier, reverse_shift, diff_min) of LogSoftmaxPrepare."""
    mult, shift, diff_min = softmax_params(1.0, float(f32(in_scale)), single_rounding)
    need(0 < shift < 31, f"input scale {in_scale}: left shift {shift}")
    try:
        rev, rev_shift = quantize_multiplier_smaller_than_one_exp(float(1 << (31 - shift)) / float(mult))
    except ValueError:
        raise Unsupported(f"input scale {in_scale}: the reverse scaling divisor is not below 1") from None
    return mult, shift, rev, rev_shift, diff_min


@lowering("LOG_SOFTMAX")
def lower_log_softmax(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, f"LOG_SOFTMAX with {len(op.inputs)} inputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(len(x.shape) >= 1 and tuple(x.shape) == tuple(y.shape), f"input shape {x.shape} != output {y.shape}")
    need(float(f32(scale(y))) == 16.0 / 256 and zp(y) == 127,
         f"output scale {scale(y)} and zero point {zp(y)}; LOG_SOFTMAX needs 16/256 and 127")
    depth = int(x.shape[-1])
    need(1 <= depth < 4096, f"log-softmax over {depth} values (the Q12 sum of exponentials holds fewer than 4096)")
    flag = rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING)
    mult, shift, rev, rev_shift, diff_min = log_softmax_params(scale(x), single_rounding=False)
    return Lowered(
        kernel="edgeq_log_softmax_s8", struct="edgeq_log_softmax_s8_params", source="log_softmax",
        fields=(("outer", x.numel // depth), ("depth", depth), ("input_multiplier", mult),
                ("input_left_shift", shift), ("reverse_multiplier", rev), ("reverse_shift", rev_shift),
                ("diff_min", diff_min), ("rounding", flag)),
        args=(x.id, y.id))
