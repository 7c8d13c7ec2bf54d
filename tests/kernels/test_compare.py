"""Comparisons (firmware/kernels/{,int16_,float32_}compare.c) and SELECT / SELECT_V2
(firmware/kernels/{,int16_,float32_}select.c) byte for byte against LiteRT's reference kernels (and TFLM where
it has the op: int8 and float32 comparisons, SELECT_V2).

* int8 comparisons rescale both operands (comparisons.cc: left shift 8, each input's scale as the multiplier):
  random scales per operand, ties made likely by scales in ratio 2 and by equal scales.
* int16: LiteRT 2.3 rescales EQUAL / NOT_EQUAL like int8 (left shift 8) and compares stored values for the
  other four (``test_int16_*``: operands of near-equal real values, so a raw comparison fails EQUAL and a
  rescaled one fails LESS); TFLM has no int16 comparison.
* float32: NaNs, signed zeros, infinities.
* Keras: ``keras.ops.where(keras.ops.less(a, b), a, b)`` (LESS + SELECT), ``ReLU(threshold=...)``
  (GREATER + SELECT_V2), in int8 and float32.
"""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest

from harness import assert_bit_exact
from harness_ops import broadcast_shapes, cases, check, inputs_for, one_op, tensor
from edgeq.frontend.tflite.reader import read_tflite

KINDS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


@pytest.mark.parametrize("kind", KINDS)
def test_int8_random_scales_and_broadcasts(kind):
    rng = _rng(kind, "int8")
    for i in cases(6):
        (s1, s2), so = broadcast_shapes(rng)
        a = tensor(s1, "int8", rng)
        if i % 3 == 0:  # one scale and zero point: stored values compare
            b = tensor(s2, "int8", rng, scale=a["scale"], zero_point=a["zero_point"])
        elif i % 3 == 1:  # scales in ratio 2: many rescaled values coincide
            b = tensor(s2, "int8", rng, scale=float(np.float32(a["scale"] * 2)))
        else:
            b = tensor(s2, "int8", rng)
        tfl = one_op(kind, [a, b], tensor(so, "bool"))
        check(tfl, inputs_for(tfl, rng))


@pytest.mark.parametrize("kind", KINDS)
def test_int16(kind):
    rng = _rng(kind, "int16")
    for i in cases(3):
        (s1, s2), so = broadcast_shapes(rng)
        a, b = tensor(s1, "int16", rng), tensor(s2, "int16", rng)
        if i == 0:
            b["scale"] = a["scale"]
        tfl = one_op(kind, [a, b], tensor(so, "bool"))
        xs = inputs_for(tfl, rng)
        for x in xs[1:]:  # b's stored values near a's real values (and equal stored values for i == 0)
            ratio = a["scale"] / b["scale"]
            near = np.broadcast_to(x[0], so).astype(np.int64) * ratio + rng.integers(-2, 3, so)
            x[1] = near.reshape(-1)[: int(np.prod(s2))].reshape(s2).clip(-32768, 32767).astype(np.int16)
        check(tfl, xs, ("litert",))


@pytest.mark.parametrize("kind", KINDS)
def test_float32_specials_and_broadcasts(kind):
    rng = _rng(kind, "float32")
    vals = np.array([np.nan, 1.0, -0.0, 0.0, np.inf, -np.inf, -1.0], np.float32)
    a, b = (v.astype(np.float32) for v in np.meshgrid(vals, vals))
    tfl = one_op(kind, [tensor(a.shape, "float32"), tensor(a.shape, "float32")], tensor(a.shape, "bool"))
    check(tfl, [[a, b]])
    for _ in cases(3):
        (s1, s2), so = broadcast_shapes(rng)
        tfl = one_op(kind, [tensor(s1, "float32"), tensor(s2, "float32")], tensor(so, "bool"))
        check(tfl, inputs_for(tfl, rng))


def test_int8_scale_at_least_one_is_refused():
    from edgeq.passes.lower import unsupported_ops

    rng = _rng("big")
    tfl = one_op("LESS", [tensor((4,), "int8", rng, scale=1.5), tensor((4,), "int8", rng)], tensor((4,), "bool"))
    assert "LESS" in str(unsupported_ops(read_tflite(tfl)))


# --- SELECT / SELECT_V2 ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
def test_select_v2_random_broadcasts(dtype):
    from tensorflow.lite.python import schema_py_generated as s

    rng = _rng("SELECT_V2", dtype)
    for _ in cases(6):
        (sc, sx, sy), so = broadcast_shapes(rng, n=3)
        q = tensor(so, dtype, rng)
        x = tensor(sx, dtype, rng, scale=q.get("scale"), zero_point=q.get("zero_point"))
        y = tensor(sy, dtype, rng, scale=q.get("scale"), zero_point=q.get("zero_point"))
        tfl = one_op("SELECT_V2", [tensor(sc, "bool"), x, y], q, s.SelectV2OptionsT())
        check(tfl, inputs_for(tfl, rng))


@pytest.mark.parametrize("dtype", ["int8", "int16", "float32"])
@pytest.mark.parametrize("cond", ["same", "scalar", "rank1"])
def test_select_v1_condition_forms(dtype, cond):
    from tensorflow.lite.python import schema_py_generated as s

    rng = _rng("SELECT", dtype, cond)
    shape = (3, 4, 5)
    cshape = {"same": shape, "scalar": (), "rank1": (3,)}[cond]
    q = tensor(shape, dtype, rng)
    vals = [tensor(shape, dtype, rng, scale=q.get("scale"), zero_point=q.get("zero_point")) for _ in range(2)]
    tfl = one_op("SELECT", [tensor(cshape, "bool"), *vals], q, s.SelectOptionsT())
    check(tfl, inputs_for(tfl, rng), ("litert",))  # TFLM registers SELECT_V2 only


# --- Keras models ----------------------------------------------------------------------------------

def _where_less(shapes):
    keras.utils.set_random_seed(0)
    a, b = (keras.Input(s) for s in shapes)
    return keras.Model([a, b], keras.ops.where(keras.ops.less(a, b), a, b))


def _relu_threshold():
    inp = keras.Input((6, 5))
    return keras.Model(inp, keras.layers.ReLU(threshold=0.4)(inp))


def test_keras_where_less_int8():
    # the converter writes SELECT (v1) here, which TFLM does not register
    assert_bit_exact(_where_less(((4, 6), (4, 6))), expect_ops={"LESS", "SELECT"}, roundings=("litert",))


def test_keras_relu_threshold_int8():
    assert_bit_exact(_relu_threshold(), expect_ops={"GREATER", "SELECT_V2"})


@pytest.mark.parametrize("build", [lambda: _where_less(((4, 6), (1, 6))), _relu_threshold])
def test_keras_float32(build):
    import tensorflow as tf

    tfl = tf.lite.TFLiteConverter.from_keras_model(build()).convert()
    assert {"SELECT_V2"} <= {op.kind for op in read_tflite(tfl).ops}
    check(tfl, inputs_for(tfl, _rng("keras-f32")))
