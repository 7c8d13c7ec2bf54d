"""Helpers shared by the per-op lowerings: constant arrays, checks, quantization fields."""

from __future__ import annotations

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.ir import ArrayRef, Graph, Op, Tensor
from edgeq.passes.lower.quantmath import activation_range, quantize_multiplier
from edgeq.passes.lower.registry import ROUNDINGS, LowerCtx, Unsupported


def arr(op: Op, field: str, values, ctype: str) -> ArrayRef:
    """A constant array named after the op and field (unique per model)."""
    return ArrayRef(f"op{op.id}_{field}", ctype, np.ascontiguousarray(values))

def tensor_array(g: Graph, tid: int) -> ArrayRef:
    """The constant data of tensor ``tid`` as a C array (weights, biases, constant operands)."""
    t = g.tensor(tid)
    assert t.data is not None
    return ArrayRef(f"t{tid}_data", t.ctype, np.ascontiguousarray(t.data))

def need(cond: bool, why: str) -> None:
    if not cond:
        raise Unsupported(why)

def expect_dtype(t: Tensor, *dtypes: str) -> None:
    need(t.dtype in dtypes, f"tensor '{t.name}' is {t.dtype}; this kernel takes {'/'.join(dtypes)}")

def scale(t: Tensor) -> float:
    need(t.quant is not None, f"tensor '{t.name}' has no quantization parameters")
    return t.quant.scale[0]

def zp(t: Tensor) -> int:
    need(t.quant is not None, f"tensor '{t.name}' has no quantization parameters")
    return t.quant.zero_point[0]

def rounding_flag(ctx: LowerCtx, litert_single: bool) -> int:
    """Kernel ``rounding`` field: 1 = single rounding, 0 = double rounding (gemmlowp, TFLM).

    LiteRT's reference kernels do not agree among themselves: the caller states whether *this* op's
    LiteRT reference kernel rounds once (measured per op in tests/kernels); TFLM always rounds twice.
    """
    if ctx.rounding not in ROUNDINGS:
        raise EdgeqError(f"unknown rounding '{ctx.rounding}'", hint=f"use one of {', '.join(ROUNDINGS)}")
    return 1 if (ctx.rounding == "litert" and litert_single) else 0


def requant_fields(output_offset: int, act_min: int, act_max: int, rounding: int) -> tuple:
    """The fields of a params struct's ``rq`` member (``edgeq_requant_t``, firmware/kernels/edgeq_common.h):
    the output stage out = clamp(requant(acc) + output_offset, act_min, act_max) with the ``rounding`` flag."""
    return (("rq.output_offset", output_offset), ("rq.act_min", act_min), ("rq.act_max", act_max),
            ("rq.rounding", rounding))


def channel_multipliers(x: Tensor, w: Tensor, y: Tensor, out_c: int,
                        broadcast: bool = False) -> tuple[list[int], list[int]]:
    """(multiplier, shift) of a weighted op: one pair per output channel for per-channel weights, one
    pair for per-tensor weights (``broadcast``: repeated for every channel, for kernels that always index
    by channel). PopulateConvolutionQuantizationParams and FullyConnected Prepare compute
    (double)input_scale * (double)filter_scale / (double)output_scale."""

    need(w.quant is not None and all(z == 0 for z in w.quant.zero_point), "weights are not symmetric int8")
    n = len(w.quant.scale)
    need(n in (1, out_c), f"weights have {n} scales for {out_c} output channels")
    in_s, out_s = float(scale(x)), float(scale(y))
    pairs = [quantize_multiplier(in_s * float(s) / out_s) for s in w.quant.scale]
    pairs = pairs * out_c if (n == 1 and broadcast) else pairs
    return [m for m, _ in pairs], [s for _, s in pairs]


def const_bias(g: Graph, op: Op, index: int, out_c: int) -> Tensor | None:
    """The op's optional int32 bias input (constant, one value per output channel), or None."""
    bias_id = op.inputs[index] if len(op.inputs) > index else -1
    if bias_id < 0:
        return None
    b = g.tensor(bias_id)
    expect_dtype(b, "int32")
    need(b.is_const, "bias is not constant")
    need(b.numel == out_c, f"bias has {b.numel} values for {out_c} output channels")
    return b


CLAMP_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def fused_clamp(op: Op, y: Tensor) -> tuple[int, int]:
    """(act_min, act_max) of the op's fused activation on its int8 output."""

    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in CLAMP_ACTIVATIONS, f"fused activation {act}")
    return activation_range(act, scale(y), zp(y))
