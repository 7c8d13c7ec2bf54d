"""SQUARED_DIFFERENCE (firmware/kernels/{,float32_}squared_difference.c) byte for byte against LiteRT's reference
kernels and TFLM: ``keras.ops.square(a - b)`` as the converter writes it (int8, float32), hand-built models
over random broadcasts and random scales and zero points per tensor (int8), int32 with wrap-around, and the
refusal of an output scale whose multiplier LiteRT would abort on."""

from __future__ import annotations

import zlib

import keras
import numpy as np
import pytest

from harness import assert_bit_exact
from harness_ops import broadcast_shapes, cases, check, inputs_for, one_op, tensor
from edgeq.frontend.tflite.reader import read_tflite


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _model(shapes):
    keras.utils.set_random_seed(0)
    a, b = (keras.Input(s) for s in shapes)
    return keras.Model([a, b], keras.ops.square(a - b))


@pytest.mark.parametrize("shapes", [((4, 6), (4, 6)), ((3, 4, 6), (6,)), ((2, 1, 5), (1, 3, 1))])
def test_keras_int8(shapes):
    assert_bit_exact(_model(shapes), expect_ops={"SQUARED_DIFFERENCE"})


def test_keras_float32():
    import tensorflow as tf

    tfl = tf.lite.TFLiteConverter.from_keras_model(_model(((3, 4), (1, 4)))).convert()
    assert "SQUARED_DIFFERENCE" in {op.kind for op in read_tflite(tfl).ops}
    check(tfl, inputs_for(tfl, _rng("f32")))


@pytest.mark.parametrize("dtype", ["int8", "int32", "float32"])
def test_random_broadcasts_and_scales(dtype):
    rng = _rng(dtype)
    for _ in cases(5):
        (s1, s2), so = broadcast_shapes(rng)
        a, b = tensor(s1, dtype, rng), tensor(s2, dtype, rng)
        y = tensor(so, dtype, rng)
        if dtype == "int8":  # an output scale the op can represent: LiteRT aborts on a multiplier >= 1
            twice = 2 * max(a["scale"], b["scale"])
            y["scale"] = float(np.float32(twice * twice / 2**14 * rng.uniform(1.5, 40000)))
        tfl = one_op("SQUARED_DIFFERENCE", [a, b], y)
        xs = inputs_for(tfl, rng)
        if dtype == "int32":  # the int32 range's ends: the square wraps
            xs[0] = [np.full(x.shape, v, np.int32) for x, v in zip(xs[0], (2**31 - 1, -(2**31)))]
        check(tfl, xs)


def test_output_multiplier_not_below_one_is_refused():
    from edgeq.passes.lower import unsupported_ops

    rng = _rng("refuse")
    a, b = tensor((4,), "int8", rng, scale=0.1), tensor((4,), "int8", rng, scale=0.1)
    tfl = one_op("SQUARED_DIFFERENCE", [a, b], tensor((4,), "int8", rng, scale=0.2 * 0.2 / 2**14))
    assert "SQUARED_DIFFERENCE" in str(unsupported_ops(read_tflite(tfl)))
