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

    ``single_rounding``: builds with TFLITE_SINGLE_ROUNDING clamp the shift to 30.
    """
    if m == 0.0:
        return 0, 0
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


def quantize_multiplier_smaller_than_one_exp(m: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: shift is <= 0."""
    if not (0.0 < m < 1.0):
        raise ValueError(f"multiplier {m} not in (0, 1)")
    q, shift = quantize_multiplier(m)
    return q, shift


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
