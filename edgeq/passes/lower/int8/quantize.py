"""QUANTIZE (int8/uint8 -> int8/uint8 requantization, float32 -> int8/uint8) and DEQUANTIZE
(int8/uint8 -> float32), as tables computed from the reference kernels' exact arithmetic.

Measured against LiteRT 2.3 (BUILTIN_REF) and TFLM (tests/kernels/test_quantize.py):
 - requantization: reference_ops::Requantize, i.e. MultiplyByQuantizedMultiplier(in - in_zp) + out_zp,
   clamped, with QuantizeMultiplier((double)in_scale / (double)out_scale); both LiteRT and TFLM round
   twice (gemmlowp), although LiteRT's FULLY_CONNECTED rounds once;
 - float -> int8: AffineQuantize, ``(int32)roundf(x / (float)scale) + zp`` with a float32 division
   and round half away from zero, clamped; both references agree;
 - int8 -> float: Dequantize, ``(float)((double)scale * (q - zp))``; both references agree.
The kernels (firmware/kernels/quantize.c) only look these tables up.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, expect_dtype, need, rounding_flag
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import quantize_multiplier, rounding_divide_by_pot, srdhm

# LiteRT's reference Requantize rounds twice, like TFLM (measured: tests/kernels/test_quantize.py).
LITERT_SINGLE_ROUNDING = False

_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


def _per_tensor(t: Tensor) -> tuple[float, int]:
    need(t.quant is not None, f"tensor '{t.name}' has no quantization parameters")
    need(not t.quant.per_channel, f"tensor '{t.name}' is quantized per channel")
    need(t.quant.scale[0] > 0, f"tensor '{t.name}' has scale {t.quant.scale[0]}")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _byte_values(dtype: str) -> np.ndarray:
    """The integer each byte 0..255 stands for in an int8 / uint8 tensor."""
    b = np.arange(256, dtype=np.int64)
    return b if dtype == "uint8" else np.where(b >= 128, b - 256, b)


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def multiply_by_quantized_multiplier(x: int, m: int, shift: int, single: bool) -> int:
    """TFLite MultiplyByQuantizedMultiplier on int32 (C wraparound included)."""
    if single:
        total = 31 - shift
        return _wrap32((x * m + (1 << (total - 1))) >> total)
    left, right = max(shift, 0), max(-shift, 0)
    return rounding_divide_by_pot(srdhm(_wrap32(x << left), m), right)


def requantize_table(in_dtype: str, in_scale: float, in_zp: int, out_dtype: str, out_scale: float,
                     out_zp: int, single: bool) -> np.ndarray:
    """Output byte for each input byte, as reference_ops::Requantize computes it."""
    # quantize.cc Prepare: (double)input scale / (double)output scale.
    m, shift = quantize_multiplier(float(in_scale) / float(out_scale))
    need(-31 <= shift <= 30, f"requantization scale ratio {in_scale / out_scale:g} is out of range")
    lo, hi = _RANGE[out_dtype]
    out = [min(max(multiply_by_quantized_multiplier(int(v) - in_zp, m, shift, single) + out_zp, lo), hi)
           for v in _byte_values(in_dtype)]
    return (np.array(out, np.int64) & 0xFF).astype(np.uint8)


def dequantize_table(in_dtype: str, scale: float, zero_point: int) -> np.ndarray:
    """reference_ops::Dequantize: (float)((double)scale * (q - zero_point)) for each input byte."""
    return (np.float64(np.float32(scale)) * (_byte_values(in_dtype) - zero_point)).astype(np.float32)


# --- float -> 8 bit: the reference as a step function of the float ---------------------------------

_KEY_MIN = -1 - 0x7F800000  # key(-inf)
_KEY_MAX = 0x7F800000  # key(+inf)


def key_to_float(k: np.ndarray) -> np.ndarray:
    """Inverse of the kernel's key(x): int32 keys that order like floats -> float32."""
    k = np.asarray(k, np.int64)
    bits = np.where(k >= 0, k, (-1 - k) | 0x80000000).astype(np.uint32)
    return bits.view(np.float32)


def float_to_key(x: np.ndarray) -> np.ndarray:
    bits = np.asarray(x, np.float32).view(np.uint32).astype(np.int64)
    return np.where(bits & 0x80000000, -1 - (bits & 0x7FFFFFFF), bits)


def affine_quantize(x: np.ndarray, scale: float, zero_point: int, out_dtype: str) -> np.ndarray:
    """reference_ops::AffineQuantize on float32 inputs: roundf(x / (float)scale) + zp, clamped.

    Where ``x / scale`` is beyond the int32 range the reference's float -> int32 cast is undefined (x86
    gives INT32_MIN, and adding a negative zero point then wraps around). We saturate, as the Arm
    build of the reference does (its conversion saturates); NaN is handled by the caller.
    """
    lo, hi = _RANGE[out_dtype]
    with np.errstate(over="ignore", invalid="ignore"):
        y = (np.asarray(x, np.float32) / np.float32(scale)).astype(np.float64)  # float32 division
        r = np.sign(y) * np.floor(np.abs(y) + 0.5)  # TfLiteRound: half away from zero
    return np.clip(r + zero_point, lo, hi).astype(np.int64)


def quantize_thresholds(scale: float, zero_point: int, out_dtype: str) -> np.ndarray:
    """thresholds[j] = the smallest key whose float quantizes to at least out_min + j (j >= 1);
    INT32_MAX when no float reaches that level; thresholds[0] = INT32_MIN."""
    lo_q, _ = _RANGE[out_dtype]
    levels = lo_q + np.arange(1, 256)
    lo = np.full(levels.shape, _KEY_MIN, np.int64)
    hi = np.full(levels.shape, _KEY_MAX + 1, np.int64)  # hi: known to reach the level (or "never")
    while (lo < hi).any():
        mid = (lo + hi) // 2
        ok = affine_quantize(key_to_float(np.minimum(mid, _KEY_MAX)), scale, zero_point, out_dtype) >= levels
        ok &= mid <= _KEY_MAX
        hi = np.where(ok & (lo < hi), mid, hi)
        lo = np.where(~ok & (lo < hi), mid + 1, lo)
    t = np.where(hi > _KEY_MAX, np.int64(2**31 - 1), hi)
    return np.concatenate([[-(2**31)], t]).astype(np.int32)


def convert_operands(g: Graph, op: Op, in_dtypes: tuple[str, ...],
                     out_dtypes: tuple[str, ...]) -> tuple[Tensor, Tensor]:
    """A QUANTIZE / DEQUANTIZE's input and output, checked: element types and equal sizes."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, *in_dtypes)
    expect_dtype(y, *out_dtypes)
    need(x.numel == y.numel, "input and output sizes differ")
    return x, y


@lowering("QUANTIZE", dtypes=("float32->int8", "float32->uint8", "int8", "uint8", "int8->uint8", "uint8->int8"))
def lower_quantize(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = convert_operands(g, op, ("float32", "int8", "uint8"), ("int8", "uint8"))
    out_scale, out_zp = _per_tensor(y)
    if x.dtype == "float32":
        lo_q, _ = _RANGE[y.dtype]
        thresholds = quantize_thresholds(out_scale, out_zp, y.dtype)
        return Lowered(
            kernel="edgeq_quantize_f32",
            struct="edgeq_quantize_f32_params",
            source="quantize",
            fields=(
                # NaN: the Arm build of the reference converts it to 0, giving the zero point.
                ("size", y.numel), ("out_min", lo_q), ("nan_value", min(max(out_zp, lo_q), lo_q + 255)),
                ("thresholds", arr(op, "thresholds", thresholds, "int32_t")),
            ),
            args=(x.id, y.id),
        )
    in_scale, in_zp = _per_tensor(x)
    single = rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING) == 1
    table = requantize_table(x.dtype, in_scale, in_zp, y.dtype, out_scale, out_zp, single)
    return Lowered(
        kernel="edgeq_requantize_8",
        struct="edgeq_requantize_8_params",
        source="quantize",
        fields=(("size", y.numel), ("table", arr(op, "table", table, "uint8_t"))),
        args=(x.id, y.id),
        inplace=True,  # y[i] = table[x[i]]
    )


@lowering("DEQUANTIZE", dtypes=("int8->float32", "uint8->float32"))
def lower_dequantize(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = convert_operands(g, op, ("int8", "uint8"), ("float32",))
    s, z = _per_tensor(x)
    return Lowered(
        kernel="edgeq_dequantize_f32",
        struct="edgeq_dequantize_f32_params",
        source="quantize",
        fields=(("size", y.numel), ("table", arr(op, "table", dequantize_table(x.dtype, s, z), "float"))),
        args=(x.id, y.id),
    )
