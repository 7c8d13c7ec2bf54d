"""Quantization arithmetic against TFLite's own expected values (quantization_util_test.cc) and the
C primitives in firmware/kernels/edgeq_common.h against the Python reference implementations."""

import ctypes
import math
import subprocess

import numpy as np
import pytest

from paths import REPO
from edgeq.passes.lower import quantmath as qm


@pytest.mark.parametrize("m,expected", [
    (0.25, (1073741824, -1)), (0.50 - 5e-9, (2147483627, -1)), (0.50 - 1e-10, (1073741824, 0)),
    (0.50, (1073741824, 0)), (0.75, (1610612736, 0)), (1 - 1e-9, (2147483646, 0)),
    (1 + 1e-11, (1073741824, 1)), (1.25, (1342177280, 1)), (1.5, (1610612736, 1)), (1.75, (1879048192, 1)),
    (2 - 1e-9, (2147483647, 1)), (2 - 1e-11, (1073741824, 2)), (2.0, (1073741824, 2)),
    (math.ldexp(1.0, -31), (1073741824, -30)), (math.ldexp(1.0, -32), (1073741824, -31)),
    (math.ldexp(0.99, -32), (0, 0)), (math.ldexp(1.0, -33), (0, 0)),
    (-4, (-1073741824, 3)), (-0.125, (-1073741824, -2)), (0, (0, 0)), (4, (1073741824, 3)),
])
def test_quantize_multiplier_matches_tflite(m, expected):
    assert qm.quantize_multiplier(m) == expected


def _qmul(x, m, single):
    q, s = qm.quantize_multiplier(m)
    return (qm.mul_by_qm_single if single else qm.mul_by_qm_double)(x, q, s)


@pytest.mark.parametrize("single", [False, True])
def test_multiply_by_quantized_multiplier_matches_tflite(single):
    i32 = np.iinfo(np.int32)
    assert _qmul(0, 0.1, single) == 0
    assert _qmul(1, 0, single) == 0
    assert _qmul(10000, 0.00097656, single) == 10
    assert _qmul(-10000, 0.00097656, single) == -10
    assert _qmul(int(i32.min), 0.00001, single) == -21475
    assert _qmul(int(i32.max), 0.00001, single) == 21475
    if not single:
        assert _qmul(10000, -0.00097656, single) == -10
        assert _qmul(int(i32.min), -0.00001, single) == 21475


def test_activation_range():
    assert qm.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert qm.activation_range("RELU", 0.1, -5) == (-5, 127)
    assert qm.activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert qm.activation_range("RELU6", 0.01, -128) == (-128, 127)
    assert qm.activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)


def test_single_and_double_rounding_differ_only_by_one():
    rng = np.random.default_rng(0)
    diffs = set()
    for _ in range(5000):
        x = int(rng.integers(-(1 << 24), 1 << 24))
        q, s = qm.quantize_multiplier(float(rng.uniform(1e-4, 0.9)))
        diffs.add(qm.mul_by_qm_single(x, q, s) - qm.mul_by_qm_double(x, q, s))
    assert diffs <= {-1, 0, 1} and diffs != {0}


_C = r"""
#include "edgeq_common.h"
int32_t t_requant(int32_t x, int32_t m, int32_t s, int32_t r) { return edgeq_requant(x, m, s, r); }
int32_t t_srdhm(int32_t a, int32_t b) { return edgeq_srdhm(a, b); }
int32_t t_rdbpot(int32_t x, int32_t e) { return edgeq_rdbpot(x, e); }
"""


@pytest.fixture(scope="module")
def clib(tmp_path_factory):
    d = tmp_path_factory.mktemp("prims")
    (d / "t.c").write_text(_C)
    so = d / "t.so"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
                    f"-I{REPO / 'firmware' / 'kernels'}", str(d / "t.c"), "-o", str(so)], check=True)
    lib = ctypes.CDLL(str(so))
    for f in (lib.t_requant, lib.t_srdhm, lib.t_rdbpot):
        f.restype = ctypes.c_int32
    return lib


def test_c_primitives_equal_python(clib):
    rng = np.random.default_rng(1)
    edge = [0, 1, -1, 2**31 - 1, -(2**31), 2**30, -(2**30)]
    for a in edge:
        for b in edge:
            assert clib.t_srdhm(a, b) == qm.srdhm(a, b)
    for _ in range(20000):
        x = int(rng.integers(-(1 << 31), 1 << 31))
        e = int(rng.integers(0, 31))
        assert clib.t_rdbpot(x, e) == qm.rounding_divide_by_pot(x, e)
        acc = int(rng.integers(-(1 << 22), 1 << 22))
        q, s = qm.quantize_multiplier(float(rng.uniform(1e-6, 4.0)))
        assert clib.t_requant(acc, q, s, 0) == qm.mul_by_qm_double(acc, q, s)
        assert clib.t_requant(acc, q, s, 1) == qm.mul_by_qm_single(acc, q, s)


# --- TFLite's checked variants: where LiteRT and TFLM abort (TFLITE_CHECK), quantmath raises ValueError ---

def test_quantize_multiplier_tiny_and_huge():
    assert qm.quantize_multiplier(math.ldexp(1.0, -40)) == (0, 0)        # shift below -31: flushed to zero
    assert qm.quantize_multiplier(1 - 2.0 ** -33) == (1 << 30, 1)        # mantissa rounds to 2^31: halved
    assert qm.quantize_multiplier(2.0 ** 40) == (1 << 30, 41)            # double rounding keeps the shift
    assert qm.quantize_multiplier(2.0 ** 40, single_rounding=True) == ((1 << 31) - 1, 30)
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="not finite"):
            qm.quantize_multiplier(bad)


def test_greater_than_one_and_smaller_than_one_checks():
    assert qm.quantize_multiplier_greater_than_one(1.5) == (1610612736, 1)
    for bad in (1.0, 0.5, 0.0):
        with pytest.raises(ValueError, match="not above 1"):
            qm.quantize_multiplier_greater_than_one(bad)
    assert qm.quantize_multiplier_smaller_than_one_exp(0.25) == (1 << 30, -1)
    assert qm.quantize_multiplier_smaller_than_one_exp(1e-12) == (0, 0)
    for bad in (1.0, 0.0, -0.5, 2.0):
        with pytest.raises(ValueError, match=r"not in \(0, 1\)"):
            qm.quantize_multiplier_smaller_than_one_exp(bad)
    with pytest.raises(ValueError, match="rounds up to 1"):  # below 1, but its Q31 mantissa rounds to 2^31
        qm.quantize_multiplier_smaller_than_one_exp(1 - 2.0 ** -33)


def test_preprocess_softmax_scaling_limit():
    limit = 2.0 ** -26  # beta * scale * 2^26 must be above 1
    with pytest.raises(ValueError):
        qm.preprocess_softmax_scaling(1.0, limit, 5, single_rounding=False)
    with pytest.raises(ValueError):
        qm.preprocess_softmax_scaling(2.0, limit / 2, 5, single_rounding=False)
    up = float(np.nextafter(np.float32(limit), np.float32(1)))
    m, shift = qm.preprocess_softmax_scaling(1.0, up, 5, single_rounding=False)
    assert shift == 1 and m == qm.tflite_round(up * 2.0 ** 26 / 2 * (1 << 31))
    assert qm.preprocess_softmax_scaling(1.0, 40.0, 5, single_rounding=False) == ((1 << 31) - 1, 31)
    assert qm.preprocess_softmax_scaling(1.0, 40.0, 5, single_rounding=True) == ((1 << 31) - 2, 30)
    assert qm.calculate_input_radius(5, 21) == 992 and qm.calculate_input_radius(5, 31) == 0
