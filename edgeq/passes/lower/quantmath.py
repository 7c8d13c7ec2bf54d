"""Quantization arithmetic, computed once in Python exactly as TFLite computes it.

Every function mirrors a TFLite routine (named in its docstring) including its float/double
precision choices, because bit-exactness depends on them.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def tflite_round(x: float) -> int:
    """TfLiteRound / std::round: half away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(m: float, single_rounding: bool = False) -> tuple[int, int]:
    """QuantizeMultiplier(double): (q31 multiplier, shift) with m = q * 2^(shift-31).

    As TFLite: 0 gives (0, 0); a mantissa rounding up to 2^31 is halved with the shift raised by one; a
    shift below -31 (|m| below about 2^-32) flushes to (0, 0), so tiny multipliers give 0 rather than
    shifting everything out. ``single_rounding``: builds with TFLITE_SINGLE_ROUNDING saturate a shift
    above 30 to (2^31 - 1, 30); double-rounding builds keep it. A NaN or infinite multiplier is a
    ValueError (TFLite's TFLITE_CHECKs on q_fixed see undefined values there).
    """
    if m == 0.0:
        return 0, 0
    if not math.isfinite(m):
        raise ValueError(f"QuantizeMultiplier: multiplier {m} is not finite")
    q, shift = math.frexp(m)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_rounding and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return int(q_fixed), int(shift)


def quantize_multiplier_greater_than_one(m: float, single_rounding: bool = False) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: TFLITE_CHECK_GT(m, 1) then a shift >= 0.

    LiteRT and TFLite Micro stop the process (abort) when the check fails; here it is a ValueError."""
    if not m > 1.0:
        raise ValueError(f"QuantizeMultiplierGreaterThanOne: multiplier {m:.6g} is not above 1")
    q, shift = quantize_multiplier(m, single_rounding)
    if shift < 0:  # pragma: no cover - frexp of a value above 1 has an exponent of at least 1
        raise ValueError(f"QuantizeMultiplierGreaterThanOne: multiplier {m:.6g} gives shift {shift}")
    return q, shift


def quantize_multiplier_smaller_than_one_exp(m: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: TFLITE_CHECKs 0 < m < 1 and, after rounding, a shift <= 0
    (a multiplier just below 1 whose mantissa rounds up to 2^31 fails it). LiteRT and TFLite Micro abort
    the process when a check fails; here it is a ValueError."""
    if not (0.0 < m < 1.0):
        raise ValueError(f"QuantizeMultiplierSmallerThanOneExp: multiplier {m:.6g} is not in (0, 1)")
    q, shift = quantize_multiplier(m)
    if shift > 0:
        raise ValueError(f"QuantizeMultiplierSmallerThanOneExp: multiplier {m!r} rounds up to 1")
    return q, shift


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int,
                               single_rounding: bool) -> tuple[int, int]:
    """PreprocessSoftmaxScaling: (input_multiplier, input_left_shift) of the quantized SOFTMAX / LOG_SOFTMAX.

    beta * input_scale * 2^(31 - input_integer_bits), in double, capped at 2^31 - 1 (2^30 - 1 in
    single-rounding builds), then QuantizeMultiplierGreaterThanOne: a product at or below 1 (input scale
    at or below 2^-26 / beta for 5 integer bits) is a ValueError, where LiteRT and TFLite Micro abort."""
    max_real = float((1 << 30) - 1) if single_rounding else float((1 << 31) - 1)
    real = min(float(beta) * float(input_scale) * float(1 << (31 - input_integer_bits)), max_real)
    return quantize_multiplier_greater_than_one(real, single_rounding)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """CalculateInputRadius (double arithmetic, floor)."""
    return math.floor(1.0 * ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits))
                      / (1 << input_left_shift))


def f32(x) -> np.float32:
    return np.float32(x)


def activation_range(act: str, scale: float, zero_point: int, qmin: int = INT8_MIN, qmax: int = INT8_MAX):
    """CalculateActivationRangeQuantized: float division, roundf, clamp to the type range."""

    def q(v: float) -> int:
        return zero_point + tflite_round(float(f32(v) / f32(scale)))

    if act == "NONE":
        return qmin, qmax
    if act == "RELU":
        return max(qmin, q(0.0)), qmax
    if act == "RELU6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == "RELU_N1_TO_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"fused activation {act} has no integer clamp")


# --- reference implementations of the integer primitives (used by unit tests and analysis) ---

def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul (gemmlowp)."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    v = ab + nudge
    # C division truncates toward zero
    q = abs(v) >> 31
    return q if v >= 0 else -q


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def mul_by_qm_double(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier, double rounding (TFLM, gemmlowp)."""
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(srdhm(x * (1 << left), m), right)


def mul_by_qm_single(x: int, m: int, shift: int) -> int:
    """MultiplyByQuantizedMultiplier, single rounding (TFLITE_SINGLE_ROUNDING)."""
    total = 31 - shift
    return (x * m + (1 << (total - 1))) >> total
