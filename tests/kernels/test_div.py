"""DIV (firmware/kernels/{,float32_}div.c) against LiteRT's reference kernel (and TFLM for float32): float32
byte for byte (one IEEE division, the [-FLT_MAX, FLT_MAX] clamp of no activation, so x / 0 is +-FLT_MAX; fused
RELU6), int32 truncating division; random broadcasts. The int8 DIV the converter writes for a quantized
``a / b`` runs in LiteRT 2.3 but shifts by 32 or more bits for small quotients (undefined behaviour; see
edgeq/passes/lower/int8/div.py), so edgeq refuses it."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest

from harness_ops import broadcast_shapes, cases, check, inputs_for, one_op, tensor
from edgeq.frontend.tflite.reader import read_tflite


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _options(act: str):
    from tensorflow.lite.python import schema_py_generated as s

    o = s.DivOptionsT()
    o.fusedActivationFunction = getattr(s.ActivationFunctionType, act)
    return o


@pytest.mark.parametrize("act", ["NONE", "RELU6"])
def test_float32_random_broadcasts(act):
    rng = _rng("f32", act)
    for _ in cases(6):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op("DIV", [tensor(s1, "float32"), tensor(s2, "float32")], tensor(so, "float32"), _options(act))
        check(tfl, inputs_for(tfl, rng))


def test_float32_zeros_and_specials():
    vals = np.array([0.0, -0.0, 1.0, -3.0, 1e-38, 3e38, np.inf, np.nan], np.float32)
    a, b = (v.astype(np.float32) for v in np.meshgrid(vals, vals))
    tfl = one_op("DIV", [tensor(a.shape, "float32"), tensor(a.shape, "float32")], tensor(a.shape, "float32"),
                 _options("NONE"))
    check(tfl, [[a, b]], ("litert",))


@pytest.mark.parametrize("act", ["NONE", "RELU", "RELU6"])
def test_int32(act):
    rng = _rng("i32", act)
    for _ in cases(5):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op("DIV", [tensor(s1, "int32"), tensor(s2, "int32")], tensor(so, "int32"), _options(act))
        xs = inputs_for(tfl, rng)
        for x in xs:
            x[0] = x[0] * 7 + 3
            x[1] = np.where(x[1] == 0, 5, x[1]).astype(np.int32)  # a zero divisor is undefined in LiteRT
        check(tfl, xs, ("litert",))


def test_keras_float32():
    import tensorflow as tf

    a, b = keras.Input((4, 6)), keras.Input((1, 6))
    tfl = tf.lite.TFLiteConverter.from_keras_model(keras.Model([a, b], a / b)).convert()
    assert "DIV" in {op.kind for op in read_tflite(tfl).ops}
    check(tfl, inputs_for(tfl, _rng("keras")))


def test_int8_div_runs_in_litert_and_is_refused():
    from edgeq.passes.lower import unsupported_ops
    from edgeq.quality.references import LiteRT

    rng = _rng("int8")
    tfl = one_op("DIV", [tensor((4,), "int8", rng), tensor((4,), "int8", rng)], tensor((4,), "int8", rng),
                 _options("NONE"))
    assert LiteRT(tfl).run([np.ones(4, np.int8), np.full(4, 100, np.int8)])[0].shape == (4,)
    assert "DIV" in str(unsupported_ops(read_tflite(tfl)))


# --- FLOOR_DIV / FLOOR_MOD -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["FLOOR_DIV", "FLOOR_MOD"])
def test_floor_div_mod_int32(kind):
    rng = _rng(kind, "i32")
    for i in cases(4):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op(kind, [tensor(s1, "int32"), tensor(s2, "int32")], tensor(so, "int32"))
        xs = inputs_for(tfl, rng)
        for x in xs:  # both signs, exact multiples, and (first sample) quotients near the int32 range's ends
            x[0] = (x[0] * 11 + 4).astype(np.int32) if i % 2 else x[0]
            x[1] = np.where(x[1] == 0, -3, x[1]).astype(np.int32)  # LiteRT refuses a zero divisor
        xs[0][0] = np.full(xs[0][0].shape, 2**31 - 1, np.int32)
        check(tfl, xs, ("litert",))


def test_floor_div_float32():
    rng = _rng("FLOOR_DIV", "f32")
    for _ in cases(4):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op("FLOOR_DIV", [tensor(s1, "float32"), tensor(s2, "float32")], tensor(so, "float32"))
        check(tfl, _nonzero_divisors(inputs_for(tfl, rng)), ("litert",))
    vals = np.array([0.0, -0.0, 1.0, -3.0, 7.5, -7.5, 1e-30, 3e38, np.inf, np.nan], np.float32)
    a, b = (v.astype(np.float32) for v in np.meshgrid(vals, vals[2:]))  # LiteRT refuses a zero divisor
    tfl = one_op("FLOOR_DIV", [tensor(a.shape, "float32"), tensor(a.shape, "float32")], tensor(a.shape, "float32"))
    check(tfl, [[a, b]], ("litert",))


def test_keras_floor_divide_float32():
    import tensorflow as tf

    a, b = keras.Input((4, 6)), keras.Input((4, 6))
    tfl = tf.lite.TFLiteConverter.from_keras_model(keras.Model([a, b], keras.ops.floor_divide(a, b))).convert()
    assert "FLOOR_DIV" in {op.kind for op in read_tflite(tfl).ops}
    xs = [[np.where(v == 0, np.float32(1.5), v).astype(np.float32) for v in x]  # (the converter may order
          for x in inputs_for(tfl, _rng("keras-floor"))]                         # the inputs either way)
    check(tfl, xs, ("litert",))


def _nonzero_divisors(xs):
    """LiteRT's FLOOR_DIV refuses a zero divisor (an error at run time, float32 too)."""
    for x in xs:
        x[1] = np.where(x[1] == 0, np.float32(1.5), x[1]).astype(np.float32)
    return xs
