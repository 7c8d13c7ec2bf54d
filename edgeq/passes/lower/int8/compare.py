"""EQUAL, NOT_EQUAL, LESS, LESS_EQUAL, GREATER, GREATER_EQUAL on int8 tensors (firmware/kernels/compare.c), with
numpy broadcasting; the output is bool.

LiteRT's comparisons.cc (ComparisonQuantized) rescales both operands before comparing, in Eval:
``QuantizeMultiplier((double)scale_k)`` of each input's own scale (for scales below 1 that is
QuantizeMultiplierSmallerThanOneExp; the multiplier-above-one branch would make the later
MultiplyByQuantizedMultiplierSmallerThanOneExp shift by a negative amount, so scales >= 1 are refused), with
``left_shift`` 8, and compares ``MultiplyByQuantizedMultiplierSmallerThanOneExp((q_k - zp_k) << 8, m_k, s_k)``
(double rounding: SRDHM then a rounding right shift). Two operands of one scale and zero point therefore
compare as their stored values; two of different scales compare as rounded real values (ties can differ from
the float comparison; the kernel reproduces the reference's rounding). TFLM's comparisons.cc computes the same.
LiteRT 2.3 rescales int16 EQUAL / NOT_EQUAL the same way (int16/compare.py reuses :func:`scaled_fields`); the
other int16 comparisons and float32 compare stored values (:func:`compare_fields`).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need, scale, zp
from edgeq.passes.lower.int8.index_ops import COMPARISONS
from edgeq.passes.lower.int8.minimum_maximum import bcast_fields
from edgeq.passes.lower.quantmath import f32, quantize_multiplier_smaller_than_one_exp
from edgeq.passes.lower.registry import LowerCtx, Unsupported, lowering

CMP_LEFT_SHIFT = 8  # comparisons.cc ComparisonQuantized


def compare_operands(g: Graph, op: Op, dtype: str) -> tuple[Tensor, Tensor, Tensor]:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_dtype(x1, dtype)
    expect_dtype(x2, dtype)
    expect_dtype(y, "bool")
    return x1, x2, y


def compare_fields(op: Op, x1: Tensor, x2: Tensor, y: Tensor) -> tuple:
    """The broadcast walk and the comparison code (EDGEQ_CMP_*, index_ops.h)."""
    return bcast_fields(op, x1.shape, x2.shape, y.shape) + (("cmp", COMPARISONS.index(op.kind)),)


def scaled_fields(op: Op, x1: Tensor, x2: Tensor, y: Tensor) -> tuple:
    """The fields of edgeq_compare_scaled_params: the walk, the code, left shift 8 and each input's offset and
    (multiplier, shift) of its scale."""
    return (compare_fields(op, x1, x2, y) + (("left_shift", CMP_LEFT_SHIFT),)
            + _rescale(x1, 1) + _rescale(x2, 2))


def _rescale(t: Tensor, k: int) -> tuple:
    need(t.quant is not None and not t.quant.per_channel, f"tensor '{t.name}' is not per-tensor quantized")
    s = float(f32(scale(t)))
    need(0.0 < s < 1.0, f"tensor '{t.name}' has scale {s}: the reference rescales only scales in (0, 1)")
    try:
        m, sh = quantize_multiplier_smaller_than_one_exp(s)
    except ValueError:
        raise Unsupported(f"tensor '{t.name}' has scale {s!r}: its multiplier rounds up to 1") from None
    return (f"input{k}_offset", -zp(t)), (f"input{k}_multiplier", m), (f"input{k}_shift", sh)


@lowering(*COMPARISONS, dtypes=("int8->bool",))
def lower_compare_s8(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x1, x2, y = compare_operands(g, op, "int8")
    return Lowered(kernel="edgeq_compare_s8", struct="edgeq_compare_s8_params", source="compare",
                   fields=scaled_fields(op, x1, x2, y), args=(x1.id, x2.id, y.id))
