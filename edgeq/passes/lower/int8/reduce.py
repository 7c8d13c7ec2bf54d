"""MEAN, SUM, REDUCE_MAX and REDUCE_MIN over constant axes, int8.

MEAN (measured against LiteRT 2.3 BUILTIN_REF and TFLM, see tests/kernels/test_reduce.py): both run
reference_ops::QuantizedMeanOrSum for every int8 configuration we tried -- 4-D over H,W with and without
keep_dims, other axis sets, and identical input/output quantization (no special fast path or plain
integer division is taken by either reference) -- and both requantize with double rounding
(gemmlowp SaturatingRoundingDoublingHighMul + RoundingDivideByPOT), unlike LiteRT's FULLY_CONNECTED:

    sum    = sum of raw int8 inputs over the reduced axes            (int32)
    mult, shift = QuantizeMultiplier((double)in_scale / (double)out_scale)
    k      = min(63 - clz64(count), 32, 31 + shift)                  (count = reduced elements)
    mult'  = ((int64)mult << k) / count,  shift' = shift - k          (1/count folded in)
    out    = clamp(MultiplyByQuantizedMultiplier(sum - in_zp * count, mult', shift') + out_zp)

SUM (measured in tests/kernels/test_reduce_sum.py): TFLM computes MEAN's formula without the 1/count
factor: (mult, shift) = QuantizeMultiplier((double)in_scale / (double)out_scale), clamped. LiteRT 2.3's
BUILTIN_REF SUM on int8 and int16 tensors returns values that do not depend on the input (the same -1 / 0 /
48 pattern for every input), so no kernel can be checked against it: SUM lowers for rounding "tflm" only.
TFLM takes that path for identical input and output quantization too (where LiteRT's reduce.cc adds the
raw values in the element type instead); with the 16x8 converter's SUM (input and output share their
scale, zero points 0) it is the saturated sum of the raw int16 values.

REDUCE_MAX / REDUCE_MIN: plain max / min; both references require identical input and output
quantization (TF_LITE_ENSURE_EQ), so no arithmetic on the values.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import quantize_multiplier

MAX_RANK = 8  # EDGEQ_REDUCE_MAX_RANK in reduce.h


def resolve_axes(axes, rank: int) -> list[int]:
    """reference_ops::ResolveAxis: wrap negative axes, drop duplicates, keep first-seen order."""
    out: list[int] = []
    for a in np.asarray(axes).reshape(-1).tolist():
        a = int(a)
        cur = a + rank if a < 0 else a
        need(0 <= cur < rank, f"axis {a} is out of range for a rank-{rank} input")
        if cur not in out:
            out.append(cur)
    return out


def split_dims(shape, axes) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(kept, reduced) lists of (size, input stride), outermost first, adjacent same-kind dims merged
    and size-1 dims dropped; an empty list becomes [(1, 0)]."""
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    kept: list[tuple[int, int]] = []
    red: list[tuple[int, int]] = []
    prev = None  # kind of the last dim appended
    for i, (d, s) in enumerate(zip(shape, strides)):
        if d == 1:
            continue
        kind = i in axes
        lst = red if kind else kept
        if prev is kind and lst:
            # Row-major, size-1 dims skipped: the previous dim's stride is d * s; merge.
            size, _ = lst[-1]
            lst[-1] = (size * d, s)
        else:
            lst.append((int(d), s))
        prev = kind
    return kept or [(1, 0)], red or [(1, 0)]


def mean_multiplier(in_scale: float, out_scale: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's multiplier with the 1/count factor folded in."""
    mult, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    k = count.bit_length() - 1  # 63 - CountLeadingZeros(uint64 count)
    k = min(k, 32, 31 + shift)
    mult = (mult << k) // count  # int64 division of positive values: floor == truncation
    return int(mult), int(shift - k)


_KERNELS = {"MEAN": "edgeq_mean_s8", "SUM": "edgeq_sum_s8", "REDUCE_MAX": "edgeq_reduce_max_s8",
            "REDUCE_MIN": "edgeq_reduce_min_s8"}


@lowering("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN")
def lower_reduce(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    ax = g.tensor(op.inputs[1])
    need(ax.is_const, "the reduction axes are not constant")
    expect_dtype(ax, "int32")
    need(0 < len(x.shape) <= MAX_RANK, f"input rank {len(x.shape)} (supported: 1..{MAX_RANK})")
    axes = resolve_axes(ax.data, len(x.shape))
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    kept, red = split_dims(x.shape, axes)
    need(int(np.prod([d for d, _ in kept], dtype=np.int64)) == y.numel,
         f"output shape {y.shape} does not match reducing {x.shape} over axes {axes}")
    need(x.numel > 0, "empty input")
    in_zp_count, out_zp, mult, shift, rounding = 0, 0, 0, 0, 0
    kernel = _KERNELS[op.kind]
    if op.kind == "SUM":
        need(ctx.rounding == "tflm", "LiteRT 2.3's reference SUM on quantized tensors returns values that do not "
                                     "depend on its input; generate with --rounding tflm (TFLite Micro's SUM)")
        need(count * 256 < 2**31, f"{count} reduced elements overflow the int32 accumulator")
        mult, shift = quantize_multiplier(float(scale(x)) / float(scale(y)))
        in_zp_count, out_zp = zp(x) * count, zp(y)
        rounding = rounding_flag(ctx, litert_single=False)
    elif op.kind == "MEAN":
        # The int32 sum and in_zp * count must not overflow (the reference accumulates in int32).
        need(count * 128 < 2**31, f"{count} reduced elements overflow the int32 accumulator")
        mult, shift = mean_multiplier(scale(x), scale(y), count)
        in_zp_count, out_zp = zp(x) * count, zp(y)
        rounding = rounding_flag(ctx, litert_single=False)
    else:
        need(scale(x) == scale(y) and zp(x) == zp(y),
             f"{op.kind} needs identical input and output quantization (as the references do)")
    return Lowered(
        kernel=kernel,
        struct="edgeq_reduce_s8_params",
        source="reduce",
        fields=(
            ("n_outer", len(kept)),
            ("outer_dims", arr(op, "outer_dims", np.array([d for d, _ in kept], np.int32), "int32_t")),
            ("outer_strides", arr(op, "outer_strides", np.array([s for _, s in kept], np.int32), "int32_t")),
            ("n_red", len(red)),
            ("red_dims", arr(op, "red_dims", np.array([d for d, _ in red], np.int32), "int32_t")),
            ("red_strides", arr(op, "red_strides", np.array([s for _, s in red], np.int32), "int32_t")),
            ("in_zp_count", in_zp_count), ("output_offset", out_zp),
            ("mult", mult), ("shift", shift), ("rounding", rounding),
        ),
        args=(x.id, y.id),
    )
