"""QUANTIZE (8-bit requantization, float -> 8-bit) and DEQUANTIZE, bit-exact with LiteRT and TFLM.

Measured reference arithmetic (what edgeq/passes/lower/int8/quantize.py tabulates):
 - requantization: MultiplyByQuantizedMultiplier with *double* rounding in both LiteRT 2.3 and TFLM
   (LiteRT's reference Requantize does not round once, unlike its FULLY_CONNECTED);
 - float -> int8: roundf(x / (float)scale) + zp, float32 division, half away from zero, in both;
 - int8 -> float: (float)((double)scale * (q - zp)), in both.
"""

import keras
import numpy as np
import pytest

from edgeq.passes.lower.registry import LowerCtx
from edgeq.passes.lower.int8 import quantize as qops
from edgeq.quality.references import TFLM, LiteRT
from harness import assert_bit_exact, build_tflite, compile_host

N = 256  # elements per tensor: the 20 random samples cover every input byte


def _fanout_model(in_dtype: str, out_dtype: str, kind: str, n_ops: int, seed: int, log_ratio: float = 6.0,
                  in_q=True, out_q=True) -> bytes:
    """One input feeding ``n_ops`` independent QUANTIZE/DEQUANTIZE ops with random quantizations."""
    rng = np.random.default_rng(seed)

    def q(dtype):
        lo = 0 if dtype == "uint8" else -128
        return dict(scale=float(np.exp(rng.uniform(-log_ratio, log_ratio)) * 0.05),
                    zero_point=int(rng.integers(lo, lo + 256)))

    first = dict(shape=[1, N], dtype=in_dtype, **(q(in_dtype) if in_q else {}))
    tensors, ops = [first], []
    for _ in range(n_ops):
        tensors.append(dict(shape=[1, N], dtype=out_dtype, **(q(out_dtype) if out_q else {})))
        ops.append((kind, [0], [len(tensors) - 1], None))
    return build_tflite(tensors, ops, [0], list(range(1, len(tensors))))


# --- 8-bit -> 8-bit requantization ----------------------------------------------------------------

@pytest.mark.parametrize("in_dtype,out_dtype,seed,log_ratio", [
    ("int8", "int8", 0, 3.0), ("int8", "int8", 1, 8.0), ("int8", "int8", 2, 0.3),
    ("uint8", "int8", 3, 4.0), ("int8", "uint8", 4, 4.0), ("uint8", "uint8", 5, 4.0),
])
def test_requantize_random_quantizations(in_dtype, out_dtype, seed, log_ratio):
    """40 random (input, output) quantizations per model: scale ratios up to e^(+-2 log_ratio) (left
    and right shifts), zero points over the whole range."""
    tfl = _fanout_model(in_dtype, out_dtype, "QUANTIZE", 40, seed, log_ratio)
    # TFLM has no uint8 -> uint8 QUANTIZE
    roundings = ("litert",) if in_dtype == out_dtype == "uint8" else ("litert", "tflm")
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"QUANTIZE"}, roundings=roundings)


def test_requantize_same_scale_and_128_shift():
    """Equal scales (multiplier 2^30, shift 1) and the int8 <-> uint8 zero point shift of 128, which
    the reference takes a fast path (xor 0x80) for."""
    t = [dict(shape=[1, N], dtype="int8", scale=0.1, zero_point=-5),
         dict(shape=[1, N], dtype="int8", scale=0.1, zero_point=-5),
         dict(shape=[1, N], dtype="int8", scale=0.1, zero_point=7),
         dict(shape=[1, N], dtype="uint8", scale=0.1, zero_point=123),
         dict(shape=[1, N], dtype="uint8", scale=0.1, zero_point=0)]
    tfl = build_tflite(t, [("QUANTIZE", [0], [i], None) for i in (1, 2, 3, 4)], [0], [1, 2, 3, 4])
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"QUANTIZE"})


@pytest.mark.parametrize("scales", [(10, 1, 0.1), (0.1, 1, 10), (30, 2, 0.05)])
def test_requantize_from_converter(scales):
    """The converter's own QUANTIZE: input b is shared by two concatenations and dominated by a different
    range in at least one, so the converter requantizes it there."""
    a, b, c = (keras.Input((8, 8, 3), batch_size=1, name=f"in{i}") for i in range(3))
    m = keras.Model([a, b, c], [keras.layers.Concatenate()([a, b]), keras.layers.Concatenate()([b, c])])
    rng = np.random.default_rng(0)
    calib = [(rng.standard_normal((32, 8, 8, 3)) * s).astype(np.float32) for s in scales]
    assert_bit_exact(m, expect_ops={"QUANTIZE", "CONCATENATION"}, calib=calib)


# --- float <-> 8-bit ------------------------------------------------------------------------------

@pytest.mark.parametrize("out_dtype,seed,log_ratio", [("int8", 0, 4.0), ("int8", 1, 12.0), ("uint8", 2, 6.0)])
def test_quantize_float_random_quantizations(out_dtype, seed, log_ratio):
    """float32 -> int8/uint8 with 24 random scales and zero points; the inputs (harness) sit a quarter
    on exact rounding ties (k + 0.5) * scale or one float step off them."""
    tfl = _fanout_model("float32", out_dtype, "QUANTIZE", 24, seed, log_ratio, in_q=False)
    roundings = ("litert",) if out_dtype == "uint8" else ("litert", "tflm")  # TFLM: no float -> uint8
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"QUANTIZE"}, roundings=roundings)


@pytest.mark.parametrize("in_dtype,seed,log_ratio", [("int8", 0, 4.0), ("int8", 1, 14.0), ("uint8", 2, 6.0)])
def test_dequantize_random_quantizations(in_dtype, seed, log_ratio):
    tfl = _fanout_model(in_dtype, "float32", "DEQUANTIZE", 24, seed, log_ratio, out_q=False)
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"DEQUANTIZE"})


@pytest.mark.parametrize("scale", [1.0, 1e-3, 40.0])
@pytest.mark.parametrize("layer", ["pad", "dense"])
def test_keras_float_io(layer, scale):
    """Float model input and output: QUANTIZE at the input, DEQUANTIZE at the output."""
    inp = keras.Input((16,), batch_size=1)
    if layer == "pad":
        out = keras.layers.ZeroPadding1D((1, 2))(keras.layers.Reshape((16, 1))(inp))
    else:
        out = keras.layers.Dense(7)(inp)
    m = keras.Model(inp, out)
    assert_bit_exact(m, expect_ops={"QUANTIZE", "DEQUANTIZE"}, scale=scale, input_type="float32",
                     output_type="float32")


@pytest.mark.parametrize("input_type,output_type", [("uint8", "uint8"), ("uint8", "int8"), ("int8", "uint8")])
def test_keras_uint8_io(input_type, output_type):
    inp = keras.Input((5, 6, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.ZeroPadding2D(1)(inp))
    assert_bit_exact(m, expect_ops={"QUANTIZE"}, input_type=input_type, output_type=output_type)


@pytest.mark.parametrize("zero_point", [-9, 20])
def test_quantize_special_floats(zero_point):
    """Zeros, denormals, ties, clamping and large values compared with the references wherever their
    float -> int32 cast is defined (|x / scale| < 2^31). Beyond it the cast is undefined behaviour (x86
    gives INT32_MIN, which + a negative zero point even wraps to 127); edgeq behaves like the Arm build
    of the reference, whose conversion saturates and turns NaN into 0: +-huge -> 127 / -128, NaN -> zp."""
    s, z = 0.0173, zero_point
    tensors = [dict(shape=[1, 64], dtype="float32"), dict(shape=[1, 64], dtype="int8", scale=s, zero_point=z)]
    tfl = build_tflite(tensors, [("QUANTIZE", [0], [1], None)], [0], [1])
    f = np.float32
    tiny = np.finfo(np.float32).tiny
    special = [0.0, -0.0, tiny, -tiny, tiny / 8, -tiny / 8, 1e-30, -1e-30, f(s) * f(0.5), -f(s) * f(0.5),
               f(s) * f(127.5 - z), f(s) * f(-128.5 - z), 1e6, -1e6, 3e7, -3e7]
    x = np.zeros(64, np.float32)
    x[: len(special)] = special
    x[len(special):] = (np.arange(64 - len(special)) - 24 + 0.5) * np.float64(f(s))
    _, host = compile_host(tfl, "litert")
    ours = host.run([x.reshape(1, 64)])[0]
    for ref in (LiteRT(tfl), TFLM(tfl)):
        assert np.array_equal(ours, ref.run([x.reshape(1, 64)])[0]), ref.name
    undefined = np.array([3.4e38, np.inf, -3.4e38, -np.inf, 1e9, -1e9, np.nan, -np.nan], np.float32)
    y = host.run([np.resize(undefined, 64).reshape(1, 64)])[0][: len(undefined)]
    assert y.tolist() == [127, 127, -128, -128, 127, -128, z, z]


@pytest.mark.parametrize("scale,zero_point,dtype", [
    (0.0173, -9, "int8"), (1e-7, 100, "int8"), (3e4, 0, "uint8"), (1.0, -128, "int8"),
])
def test_quantize_thresholds_are_the_steps(scale, zero_point, dtype):
    """Each threshold is exactly where the reference function steps up to its level."""
    t = qops.quantize_thresholds(scale, zero_point, dtype).astype(np.int64)
    assert t[0] == -(2**31) and np.all(np.diff(t) >= 0)
    lo = -128 if dtype == "int8" else 0
    reach = t[1:] < 2**31 - 1
    levels = lo + np.arange(1, 256)[reach]
    at = qops.affine_quantize(qops.key_to_float(t[1:][reach]), scale, zero_point, dtype)
    below = qops.affine_quantize(qops.key_to_float(t[1:][reach] - 1), scale, zero_point, dtype)
    assert np.all(at >= levels) and np.all(below < levels)
    keys = qops.float_to_key(np.array([-np.inf, -0.0, 0.0, np.inf], np.float32))
    assert keys.tolist() == [-1 - 0x7F800000, -1, 0, 0x7F800000]


def test_requantize_rounding_per_reference():
    """The tables differ between the two references for this ratio (so the tests above can tell)."""
    args = ("int8", 0.125, 0, "int8", 0.5, 0)  # ratio 1/4: -2 -> -0.5 rounds to 0 once, to -1 twice
    single, double = (qops.requantize_table(*args, single=s) for s in (True, False))
    assert not np.array_equal(single, double)
    assert LowerCtx().rounding == "litert" and qops.LITERT_SINGLE_ROUNDING is False
