"""Elementwise int8 activations: RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, HARD_SWISH,
LOGISTIC, TANH; and the unary math ops GELU, EXP, LOG, SQRT, RSQRT, ABS, NEG, ELU (tables, see the last section).

The two references do not always use the same algorithm (measured in tests/kernels/test_activations.py
with exact rounding ties and with input scales where the algorithms part):

============  =========================================  =============================================
op            LiteRT (BUILTIN_REF)                       TFLM
============  =========================================  =============================================
RELU,         requantize with double rounding; the       requantize with double rounding; the
RELU_N1_TO_1, multiplier is float32 in_scale / out_scale multiplier is double in_scale / out_scale
RELU_0_TO_1   (TFLM has no RELU_N1_TO_1 / RELU_0_TO_1)
RELU6         (as RELU, clamped to q(0)..q(6))           no requantization: clamps the input to
                                                         [zp_in, q_in(6)] and copies it out
LEAKY_RELU    two requantizations (identity / alpha),    identical
              double rounding, float32 multipliers
HARD_SWISH    int16 fixed point (reference_ops)          identical
LOGISTIC,     256-entry table built in float at          gemmlowp fixed point: Q4.27 input (double
TANH          Prepare time (LUTPopulate)                 rounding), logistic / tanh; output params
                                                         assumed (-128, 1/256) / (0, 1/128)
============  =========================================  =============================================

The LiteRT tables are rebuilt here with the same float32 operations; the transcendental functions come
from the same C library LiteRT calls (``expf``/``tanhf`` through ctypes), because numpy's float32 exp
and tanh differ from glibc's in the last ulp on a large fraction of inputs (and glibc's tanhf is not
correctly rounded either), which moves a table entry whenever the product lands near a rounding tie.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from functools import lru_cache

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need, requant_fields, rounding_flag, scale, tensor_array, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import quantize_multiplier, rounding_divide_by_pot, srdhm, tflite_round

f32 = np.float32


def _io(g: Graph, op: Op):
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(x.numel == y.numel, f"input has {x.numel} elements, output {y.numel}")
    for t in (x, y):
        need(t.quant is not None and not t.quant.per_channel, f"tensor '{t.name}' is not per-tensor quantized")
    return x, y


def _roundf(v: np.float32) -> float:
    """roundf: half away from zero, on a float32 value."""
    return float(np.copysign(np.floor(np.abs(f32(v)) + f32(0.5)), f32(v)))


# --- RELU family ------------------------------------------------------------------------------------

# (act_min, act_max) in float as the kernels pass them to QuantizedReluX; None = no upper clamp.
_RELU_RANGE = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}


def _relu_clamp(kind: str, out_scale: float, out_zp: int) -> tuple[int, int]:
    """QuantizedReluX / CalculateReluOpData: zp + (int)roundf(act / scale) in float, clamped to int8."""
    lo, hi = _RELU_RANGE[kind]
    q_lo = max(-128, out_zp + int(_roundf(f32(lo) / f32(out_scale))))
    q_hi = 127 if hi is None else min(127, out_zp + int(_roundf(f32(hi) / f32(out_scale))))
    return q_lo, q_hi


@lowering("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1")
def lower_relu(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    if ctx.rounding == "tflm":
        need(op.kind in ("RELU", "RELU6"), f"TFLite Micro has no {op.kind} kernel")
        if op.kind == "RELU6":
            # Relu6Prepare: zero = input zp, six = FloatToQuantizedType(6, input scale, input zp); the
            # input is clamped and copied, whatever the output's quantization.
            six = min(127, max(-128, int(_roundf(f32(6.0) / f32(scale(x)))) + zp(x)))
            return Lowered(
                kernel="edgeq_clamp_s8", struct="edgeq_clamp_s8_params", source="activations",
                fields=(("size", x.numel), ("lo", zp(x)), ("hi", six)),
                args=(x.id, y.id),
                inplace=True,  # in[i] is read before out[i] is written
            )
        real = float(scale(x)) / float(scale(y))  # CalculateReluOpData: double / double
    else:
        real = float(f32(scale(x)) / f32(scale(y)))  # ReluPrepare: float / float, then to double
    mult, shift = quantize_multiplier(real)
    lo, hi = _relu_clamp(op.kind, scale(y), zp(y))
    return Lowered(
        kernel="edgeq_relu_s8", struct="edgeq_relu_s8_params", source="activations",
        fields=(
            ("size", x.numel), ("input_zero_point", zp(x)), ("mult", mult), ("shift", shift),
            *requant_fields(zp(y), lo, hi, rounding_flag(ctx, litert_single=False)),
        ),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )


# --- LEAKY_RELU ---------------------------------------------------------------------------------------

@lowering("LEAKY_RELU")
def lower_leaky_relu(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    alpha = f32(op.attrs.get("alpha", 0.2))
    need(alpha >= 0, f"negative alpha {float(alpha)} (the references disagree on its rounding)")
    # LeakyReluPrepare (both references): float input_scale * alpha / output_scale, then to double.
    m_alpha, s_alpha = quantize_multiplier(float(f32(scale(x)) * alpha / f32(scale(y))))
    m_id, s_id = quantize_multiplier(float(f32(scale(x)) / f32(scale(y))))
    return Lowered(
        kernel="edgeq_leaky_relu_s8", struct="edgeq_leaky_relu_s8_params", source="activations",
        fields=(
            ("size", x.numel), ("input_zero_point", zp(x)), ("output_zero_point", zp(y)),
            ("mult_identity", m_id), ("shift_identity", s_id), ("mult_alpha", m_alpha), ("shift_alpha", s_alpha),
            ("rounding", rounding_flag(ctx, litert_single=False)),
        ),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )


# --- HARD_SWISH ---------------------------------------------------------------------------------------

def _downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: round a Q31 multiplier to Q15."""
    if m >= (1 << 31) - 1 - (1 << 15):
        return (1 << 15) - 1
    return (m + (1 << 15)) >> 16


def hard_swish_params(in_scale: float, out_scale: float) -> tuple[int, int, int, int]:
    """HardSwishPrepare (identical in LiteRT and TFLM): float32 scales, QuantizeMultiplier in double.
    Returns (output multiplier Q15, output exponent, reluish multiplier Q15, reluish exponent)."""
    hires_input_scale = f32(1.0 / 128.0) * f32(in_scale)
    reluish_scale = f32(3.0) / f32(32768.0)
    m_out, e_out = quantize_multiplier(float(hires_input_scale / f32(out_scale)))
    m_rel, e_rel = quantize_multiplier(float(hires_input_scale / reluish_scale))
    return _downscale_to_int16(m_out), e_out, _downscale_to_int16(m_rel), e_rel


@lowering("HARD_SWISH")
def lower_hard_swish(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    m_out, e_out, m_rel, e_rel = hard_swish_params(scale(x), scale(y))
    need(e_out <= 0, "output multiplier input_scale / (128 * output_scale) is >= 1 (TFLite rejects it)")
    # exponents down to -31 follow gemmlowp's int16 RoundingDivideByPOT exactly (the kernel's rdbpot_s16);
    # below that the reference's own mask arithmetic is undefined, and above 30 its left shift overflows
    need(-31 <= e_out and -31 <= e_rel <= 30,
         "input and output scales too far apart for the int16 fixed-point hard-swish (the reference's "
         "shifts leave their defined range)")
    return Lowered(
        kernel="edgeq_hard_swish_s8", struct="edgeq_hard_swish_s8_params", source="activations",
        fields=(
            ("size", x.numel), ("input_zero_point", zp(x)), ("output_zero_point", zp(y)),
            ("output_multiplier_fixedpoint_int16", m_out), ("output_multiplier_exponent", e_out),
            ("reluish_multiplier_fixedpoint_int16", m_rel), ("reluish_multiplier_exponent", e_rel),
        ),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )


# --- LOGISTIC / TANH ----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _libm_fn(name: str):
    """The C library's float function ``name`` (what LiteRT's std::exp(float)/std::tanh(float) call)."""
    path = ctypes.util.find_library("m") or ctypes.util.find_library("c")
    try:
        fn = getattr(ctypes.CDLL(path), name)
    except (OSError, AttributeError, TypeError):
        return None
    fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
    return fn


def _expf(v: np.float32) -> np.float32:
    fn = _libm_fn("expf")
    if fn:
        return f32(fn(float(v)))
    with np.errstate(over="ignore"):  # fallback: double then float, correctly rounded but for rare ties
        return f32(np.exp(np.float64(v)))


def _tanhf(v: np.float32) -> np.float32:
    fn = _libm_fn("tanhf")
    return f32(fn(float(v))) if fn else f32(np.tanh(np.float64(v)))


def _sigmoid_f32(v: np.float32) -> np.float32:
    return f32(1.0) / (f32(1.0) + _expf(-v))  # [](float v) { return 1.0f / (1.0f + std::exp(-v)); }


def populate_lut(in_scale: float, in_zp: int, out_scale: float, out_zp: int, transform) -> np.ndarray:
    """LUTPopulateInt8, in float32 exactly as LiteRT computes it; entry k is for input (int8)k."""
    inverse_scale = f32(1.0) / f32(out_scale)
    lut = np.zeros(256, np.int8)
    for val in range(-128, 128):
        dequantized = f32(in_scale) * f32(val - in_zp)
        transformed = transform(dequantized)
        rescaled = f32(_roundf(transformed * inverse_scale))
        quantized = int(rescaled + f32(out_zp))  # float add, truncation toward zero
        lut[val & 0xFF] = max(-128, min(127, quantized))
    return lut


def sigmoid_fixed_params(in_scale: float) -> tuple[int, int, int]:
    """TFLM Logistic/Tanh Prepare for int8: (input_multiplier, input_left_shift, input_range_radius)."""
    k_input_integer_bits = 4
    q, shift = math.frexp(float(in_scale) * float(1 << (31 - k_input_integer_bits)))
    mult = tflite_round(q * (1 << 31))
    need(mult < (1 << 31), "input scale mantissa rounds to 1.0")
    need(shift >= 0, f"input scale {in_scale} is too small for the Q4.27 fixed-point path")
    # CalculateInputRadius(4, shift, 31)
    radius = math.floor(1.0 * ((1 << k_input_integer_bits) - 1) * (1 << (31 - k_input_integer_bits)) / (1 << shift))
    return mult, shift, radius


@lowering("LOGISTIC", "TANH")
def lower_sigmoid(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    logistic = op.kind == "LOGISTIC"
    if ctx.rounding == "tflm":
        if logistic:
            need(zp(y) == -128, f"output zero point is {zp(y)}; TFLite Micro's LOGISTIC needs -128")
        mult, shift, radius = sigmoid_fixed_params(scale(x))
        return Lowered(
            kernel="edgeq_logistic_fixed_s8" if logistic else "edgeq_tanh_fixed_s8",
            struct="edgeq_sigmoid_fixed_s8_params", source="activations",
            fields=(("size", x.numel), ("input_zero_point", zp(x)), ("input_range_radius", radius),
                    ("input_multiplier", mult), ("input_left_shift", shift)),
            args=(x.id, y.id),
            inplace=True,  # in[i] is read before out[i] is written
        )
    rounding_flag(ctx, litert_single=False)  # validates ctx.rounding; the table needs no rounding mode
    if logistic:
        need(f32(scale(y)) == f32(1.0 / 256), f"output scale is {scale(y)}; LiteRT's LOGISTIC needs 1/256")
    lut = populate_lut(scale(x), zp(x), scale(y), zp(y), _sigmoid_f32 if logistic else _tanhf)
    return Lowered(
        kernel="edgeq_lut_s8", struct="edgeq_lut_s8_params", source="activations",
        fields=(("size", x.numel), ("lut", arr(op, "lut", lut, "int8_t"))),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )


# --- GELU, EXP, LOG, SQRT, RSQRT, ABS: a function of one int8 value, so one 256-entry table --------------
#
# LiteRT computes GELU, EXP and LOG through a table built in float at Prepare time (LUTPopulate, as
# LOGISTIC); SQRT in float per element and RSQRT / ABS in integer arithmetic per element. Each is still a
# function of the one int8 input value, so the table below is that per-element computation run once per
# input value here (measured bit-exact in tests/kernels/test_unary.py) and the C kernel is the table
# lookup: no libm on the board and one kernel for all of them.

_M_SQRT1_2 = 0.70710678118654752440
_SQRT_2_OVER_PI = f32(1.12837916709551257390 * _M_SQRT1_2)  # gelu_internal::kSqrt2dPi (constexpr float)


def _libm(name: str):
    fn = _libm_fn(name)
    need(fn is not None, f"the C library has no {name} to build the table with")
    return lambda v: f32(fn(float(v)))


def gelu_transform(approximate: bool):
    """reference_ops::GeluTransform / GeluTransformApproximate, float32 throughout."""
    if approximate:
        return lambda v: f32(0.5) * v * (f32(1.0) + _tanhf(_SQRT_2_OVER_PI * (v + f32(0.044715) * v * v * v)))
    erfcf = _libm("erfcf")
    return lambda v: f32(0.5) * v * erfcf(v * f32(-_M_SQRT1_2))


def _log_transform(out_scale: float, out_zp: int):
    """LogLUTPrepare: log(v), and the lowest representable output for v <= 0."""
    logf = _libm("logf")
    output_min = f32(-128 - out_zp) * f32(out_scale)
    return lambda v: output_min if v <= 0 else logf(v)


def _sqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """SqrtEvalQuantized: sqrt of the dequantized input in float, divided by the output scale and
    truncated toward zero (not rounded). LiteRT stops with an error on a negative input; the table maps
    those inputs to the output for 0."""
    lut = np.zeros(256, np.int8)
    for val in range(-128, 128):
        deq = f32(in_scale) * f32(val - in_zp)
        root = np.sqrt(max(deq, f32(0.0)))  # sqrtf is correctly rounded, as numpy's float32 sqrt
        q = int(root / f32(out_scale)) + out_zp
        lut[val & 0xFF] = max(-128, min(127, q))
    return lut


def _wrap32(v: int) -> int:
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _sat_shift_left(x: int, e: int) -> int:
    """gemmlowp SaturatingRoundingMultiplyByPOT<e> for e > 0."""
    threshold = (1 << (31 - e)) - 1
    return (1 << 31) - 1 if x > threshold else -(1 << 31) if x < -threshold else x << e


def inv_sqrt_multiplier_exp(value: int, reverse_shift: int = -1) -> tuple[int, int]:
    """GetInvSqrtQuantizedMultiplierExp: 1/sqrt(value) as a Q31 multiplier and shift (Newton-Raphson in
    gemmlowp Q3.28 fixed point)."""
    if value <= 1:
        return (1 << 31) - 1, 0
    shift = 11
    while value >= (1 << 29):
        value //= 4
        shift += 1
    pairs = ((32 - value.bit_length()) - 1) // 2 - 1
    shift -= pairs
    value <<= 2 * pairs
    x_in = value >> 1
    half_in = rounding_divide_by_pot(x_in, 1)
    half_three = (1 << 28) + (1 << 27)
    x = 1 << 28  # F3::One()
    for _ in range(5):
        x3 = _sat_shift_left(srdhm(srdhm(x, x), x), 6)  # Rescale<3>(F9)
        x = _sat_shift_left(_wrap32(srdhm(half_three, x) - srdhm(half_in, x3)), 3)  # Rescale<3>(F6)
    x = srdhm(x, 1518500250)  # * sqrt(2) / 2 (Q0)
    if shift < 0:
        x = _wrap32(x << -shift)
        shift = 0
    return x, shift * reverse_shift


def _mbqm(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier as LiteRT's reference kernels here use it (double rounding)."""
    left, right = (shift, 0) if shift > 0 else (0, -shift)
    return rounding_divide_by_pot(srdhm(_wrap32(x * (1 << left)), m), right)


def _rsqrt_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """RsqrtEvalQuantizedInt8: the output multiplier is 1 / (sqrtf(in_scale) * out_scale) (float product,
    double quotient); each value x - zp goes through GetInvSqrtQuantizedMultiplierExp and two
    requantizations with a shift of 20. x == zp gives 127; LiteRT stops with an error below the zero point,
    the table gives 127 there too."""
    k_shift = 20
    mult, shift = quantize_multiplier(1.0 / float(np.sqrt(f32(in_scale)) * f32(out_scale)))
    lut = np.zeros(256, np.int8)
    for val in range(-128, 128):
        value = val - in_zp
        if value <= 0:
            lut[val & 0xFF] = 127
            continue
        inv_m, inv_s = inv_sqrt_multiplier_exp(value)
        data = _mbqm(1, inv_m, inv_s + k_shift)
        out = _mbqm(data, mult, shift - k_shift) + out_zp
        lut[val & 0xFF] = max(-128, min(127, out))
    return lut


def _abs_table(in_scale: float, in_zp: int, out_scale: float, out_zp: int) -> np.ndarray:
    """AbsEvalQuantized: |x - zp_in|, requantized by float in_scale / out_scale unless the scales are equal."""
    rescale = f32(in_scale) != f32(out_scale)
    mult, shift = quantize_multiplier(float(f32(in_scale) / f32(out_scale))) if rescale else (0, 0)
    lut = np.zeros(256, np.int8)
    for val in range(-128, 128):
        value = abs(val - in_zp)
        out = (_mbqm(value, mult, shift) if rescale else value) + out_zp
        lut[val & 0xFF] = max(-128, min(127, out))
    return lut


def unary_table(kind: str, in_scale: float, in_zp: int, out_scale: float, out_zp: int,
                approximate: bool = False) -> np.ndarray:
    """The 256-entry table of int8 ``kind`` (entry k for input (int8)k), as LiteRT computes the op."""
    q = (in_scale, in_zp, out_scale, out_zp)
    if kind == "GELU":
        return populate_lut(*q, gelu_transform(approximate))
    if kind == "EXP":
        return populate_lut(*q, _expf)
    if kind == "LOG":
        return populate_lut(*q, _log_transform(out_scale, out_zp))
    if kind == "ELU":  # elu.cc's table: value < 0 ? std::expm1(value) : value
        expm1f = _libm("expm1f")
        return populate_lut(*q, lambda v: expm1f(v) if v < 0 else v)
    if kind == "NEG":  # LiteRT's neg.cc negates the stored int8 value (no zero points; -(-128) wraps to -128)
        return np.array([(-((k + 128) % 256 - 128) + 128) % 256 - 128 for k in range(256)], np.int8)
    return {"SQRT": _sqrt_table, "RSQRT": _rsqrt_table, "ABS": _abs_table}[kind](*q)


# TFLite Micro's int8 kernels for these ops: ABS computes what LiteRT computes (measured), ELU what elu.cc
# computes (LiteRT's reference resolver has no ELU: tests/kernels/test_neg_elu.py checks it against LiteRT's
# builtin one and TFLM); the installed TFLM has no int8 GELU, EXP, LOG, SQRT, RSQRT or NEG (its interpreter
# fails to allocate them).
_TFLM_TABLE_OPS = ("ABS", "ELU")


@lowering("GELU", "EXP", "LOG", "SQRT", "RSQRT", "ABS", "NEG", "ELU")
def lower_unary_table(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    rounding_flag(ctx, litert_single=False)  # validates ctx.rounding; the table needs no rounding mode
    if ctx.rounding == "tflm":
        need(op.kind in _TFLM_TABLE_OPS, f"TFLite Micro has no int8 {op.kind} kernel")
    lut = unary_table(op.kind, scale(x), zp(x), scale(y), zp(y), bool(op.attrs.get("approximate", False)))
    return Lowered(
        kernel="edgeq_lut_s8", struct="edgeq_lut_s8_params", source="activations",
        fields=(("size", x.numel), ("lut", arr(op, "lut", lut, "int8_t"))),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )


# --- LUT: a float island folded into a table (edgeq.frontend.islands) -------------------------------------
#
# The frontend replaces DEQUANTIZE -> elementwise float ops -> QUANTIZE by a LUT op whose second input is the
# 256-entry table LiteRT computed for it; the kernel is the same table lookup.


@lowering("LUT")
def lower_lut(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = _io(g, op)
    table = g.tensor(op.inputs[1])
    need(table.is_const and table.dtype == "int8" and table.numel == 256, "the table is not a constant int8[256]")
    rounding_flag(ctx, litert_single=False)  # validates ctx.rounding; the table is LiteRT's and TFLM's float ops
    return Lowered(
        kernel="edgeq_lut_s8", struct="edgeq_lut_s8_params", source="activations",
        fields=(("size", x.numel), ("lut", tensor_array(g, table.id))),
        args=(x.id, y.id),
        inplace=True,  # in[i] is read before out[i] is written
    )
