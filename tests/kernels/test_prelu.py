"""PRELU (Keras PReLU), int8 and float32, against LiteRT's reference kernels (and TFLM for int8); float32 byte for byte.

Keras PReLU's alpha is a constant the converter quantizes on its own scale; the layer is tried with its
alpha per element, shared over axes (alpha broadcast), all-positive and mixed-sign alphas, on rank 2 to 4
inputs and calibration ranges that put many requantizations on ties.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import assert_bit_exact


def _prelu_model(shape, shared_axes, alpha_scale: float, seed: int):
    import keras

    inp = keras.Input(shape, batch_size=1)
    layer = keras.layers.PReLU(shared_axes=shared_axes)
    out = layer(inp)
    rng = np.random.default_rng(seed)
    (alpha,) = layer.get_weights()
    layer.set_weights([(rng.standard_normal(alpha.shape) * alpha_scale + 0.1).astype(np.float32)])
    return keras.Model(inp, out)


CASES = [((16,), None, 0.3), ((4, 8), None, 0.5), ((6, 5, 3), [1, 2], 0.2), ((5, 7, 4), [1], 1.5),
         ((3, 9), [1], 0.05), ((2, 3, 4), None, 2.0)]


@pytest.mark.parametrize("shape,shared_axes,alpha_scale", CASES, ids=[str(c[0]) + str(c[1]) for c in CASES])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_prelu_int8(shape, shared_axes, alpha_scale, scale):
    model = _prelu_model(shape, shared_axes, alpha_scale, seed=len(shape))
    assert_bit_exact(model, expect_ops={"PRELU"}, scale=scale, n=12)


@pytest.mark.parametrize("shape,shared_axes,alpha_scale", CASES, ids=[str(c[0]) + str(c[1]) for c in CASES])
def test_prelu_float32_exact(shape, shared_axes, alpha_scale):
    import tensorflow as tf

    from edgeq.frontend.tflite.reader import read_tflite
    from edgeq.quality.references import LiteRT
    from harness import compile_host

    model = _prelu_model(shape, shared_axes, alpha_scale, seed=len(shape))
    tfl = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    assert "PRELU" in {op.kind for op in read_tflite(tfl).ops}
    _, host = compile_host(tfl, "litert")
    ref = LiteRT(tfl)
    rng = np.random.default_rng(2)
    for _ in range(8):
        x = (rng.standard_normal((1, *shape)) * 3).astype(np.float32)
        x.reshape(-1)[:2] = [0.0, -0.0]
        assert host.run([x])[0].tobytes() == ref.run([x])[0].tobytes()
