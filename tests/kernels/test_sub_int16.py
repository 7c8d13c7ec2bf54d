"""SUB with int16 activations (firmware/kernels/int16_elementwise.c, edgeq_sub_s16) byte for byte against LiteRT's
reference kernel and TFLM: Keras ``Subtract`` converted 16x8 (the converter's general-scale SUB), same shapes
and broadcasts, inputs of different ranges so the two input multipliers differ."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from harness_int16 import assert_bit_exact16


@pytest.mark.parametrize("shapes,scales", [(((4, 6), (4, 6)), (1.0, 3.0)), (((3, 4, 6), (1, 1, 6)), (5.0, 0.5)),
                                           (((2, 1, 5), (1, 3, 1)), (1.0, 1.0))])
def test_keras_subtract_int16(shapes, scales):
    keras.utils.set_random_seed(0)
    a, b = (keras.Input(s) for s in shapes)
    m = keras.Model([a, b], keras.layers.Subtract()([a, b]))
    rng = np.random.default_rng(0)
    calib = [(rng.standard_normal((32, *s)) * k).astype(np.float32) for s, k in zip(shapes, scales)]
    assert_bit_exact16(m, expect_ops={"SUB"}, calib=calib)
