"""Elementwise int8 activations: RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, HARD_SWISH,
LOGISTIC, TANH.

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
from edgeq.passes.lower.common import arr, expect_dtype, need, requant_fields, rounding_flag, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.quantmath import quantize_multiplier, tflite_round

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
    need(e_out >= -15 and -15 <= e_rel <= 30,
         "input and output scales too far apart for the int16 fixed-point hard-swish")
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
