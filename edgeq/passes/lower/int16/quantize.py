"""QUANTIZE (float32 -> int16, int16 <-> int8/int16 requantization) and DEQUANTIZE (int16 -> float32),
as LiteRT's reference kernels (quantize.cc / dequantize.cc):
 - float -> int16: AffineQuantize, ``roundf(x / (float)scale) + zp`` (float32 division), clamped;
 - requantization: reference_ops::Requantize, MultiplyByQuantizedMultiplier(x - in_zp) + out_zp with
   QuantizeMultiplier((double)in_scale / (double)out_scale), clamped;
 - int16 -> float: ``(float)((double)scale * (q - zp))``.
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, requant_fields, rounding_flag
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int8.quantize import _per_tensor, convert_operands
from edgeq.passes.lower.quantmath import quantize_multiplier

LITERT_SINGLE_ROUNDING = False  # measured: tests/kernels/test_int16_ops.py::test_requantize_every_input
_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}
_BYTES = {"int8": 1, "int16": 2}


@lowering("QUANTIZE", dtypes=("float32->int16", "int16", "int16->int8", "int8->int16"))
def lower_quantize_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = convert_operands(g, op, ("float32", "int8", "int16"), ("int8", "int16"))
    out_scale, out_zp = _per_tensor(y)
    lo, hi = _RANGE[y.dtype]
    if x.dtype == "float32":
        return Lowered(
            kernel="edgeq_quantize_f32_s16",
            struct="edgeq_quantize_f32_s16_params",
            source="int16_quantize",
            fields=(("size", y.numel), ("scale", float(out_scale)), ("zero_point", out_zp),
                    ("out_min", lo), ("out_max", hi), ("nan_value", min(max(out_zp, lo), hi))),
            args=(x.id, y.id),
        )
    in_scale, in_zp = _per_tensor(x)
    m, sh = quantize_multiplier(float(in_scale) / float(out_scale))
    need(-31 <= sh <= 30, f"requantization scale ratio {in_scale / out_scale:g} is out of range")
    return Lowered(
        kernel="edgeq_requantize_s16",
        struct="edgeq_requantize_s16_params",
        source="int16_quantize",
        fields=(("size", y.numel), ("in_bytes", _BYTES[x.dtype]), ("out_bytes", _BYTES[y.dtype]),
                ("in_zero_point", in_zp), ("multiplier", m), ("shift", sh),
                *requant_fields(out_zp, lo, hi, rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING))),
        args=(x.id, y.id),
    )


@lowering("DEQUANTIZE", dtypes=("int16->float32",))
def lower_dequantize_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = convert_operands(g, op, ("int16",), ("float32",))
    s, z = _per_tensor(x)
    return Lowered(
        kernel="edgeq_dequantize_s16",
        struct="edgeq_dequantize_s16_params",
        source="int16_quantize",
        fields=(("size", y.numel), ("scale", float(s)), ("zero_point", z)),
        args=(x.id, y.id),
    )
