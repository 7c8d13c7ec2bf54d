"""float32 EXP, LOG, SQRT, RSQRT, ABS, NEG, GELU (erf and tanh forms) and ELU (firmware/kernels/float32_math.c)
against LiteRT's reference kernels (TFLM for ELU): within edgeq.quality.compare.FLOAT_RTOL (edgeq's own exp / log / sqrt / erfc
against libm's), ABS and NEG bit for bit. Inputs: normal, wide (x 30), tiny, subnormal, zeros, infinities."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import FLOAT_RTOL, float_error

from harness import compile_host

SHAPE = (1, 64)


def _tflite(fn) -> bytes:
    import tensorflow as tf

    f = tf.function(fn, input_signature=[tf.TensorSpec(SHAPE, tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()


def _ops():
    import tensorflow as tf

    return {
        "EXP": (tf.math.exp, "EXP", (-90.0, 88.0)),
        "LOG": (tf.math.log, "LOG", None),
        "SQRT": (tf.math.sqrt, "SQRT", None),
        "RSQRT": (tf.math.rsqrt, "RSQRT", None),
        "ABS": (tf.math.abs, "ABS", (-1e30, 1e30)),
        "NEG": (tf.math.negative, "NEG", (-1e30, 1e30)),
        "GELU": (lambda x: tf.nn.gelu(x, approximate=False), "GELU", (-20.0, 20.0)),
        "GELU_TANH": (lambda x: tf.nn.gelu(x, approximate=True), "GELU", (-20.0, 20.0)),
        "ELU": (tf.nn.elu, "ELU", (-100.0, 100.0)),
    }


def _inputs(positive: bool, rng, n: int = 20) -> list[np.ndarray]:
    special = np.array([0.0, 1.0, 2.0, 0.5, 1e-3, 1e-20, 1e-40, 3e-45, 1e30, 3.4e38, np.inf, 7.0, 100.0, 1.5, 0.3,
                        0.1, 2.5, 9.0, 0.625, 0.29], np.float32)
    out = []
    for i in range(n):
        x = (rng.standard_normal(SHAPE) * (30.0 if i % 2 else 2.0)).astype(np.float32)
        x.reshape(-1)[: special.size] = special if positive else np.where(np.arange(special.size) % 2, -special, special)
        out.append(np.abs(x) if positive else x)
    return out


@pytest.mark.parametrize("name", ["EXP", "LOG", "SQRT", "RSQRT", "ABS", "NEG", "GELU", "GELU_TANH", "ELU"])
def test_float32_math_within_tolerance(name):
    from edgeq.quality.references import TFLM, LiteRT

    fn, kind, clip = _ops()[name]
    tfl = _tflite(fn)
    assert kind in {op.kind for op in read_tflite(tfl).ops}
    # LiteRT's reference op resolver has no ELU kernel (it refuses to load the model): TFLM's instead
    rounding = "tflm" if name == "ELU" else "litert"
    _, host = compile_host(tfl, rounding)
    ref = TFLM(tfl) if name == "ELU" else LiteRT(tfl)
    rng = np.random.default_rng(5)
    inputs = _inputs(name in ("LOG", "SQRT", "RSQRT"), rng)
    if name in ("LOG", "SQRT", "RSQRT"):  # and the domain edges: zero, negatives (NaN), +-inf
        inputs.append(np.resize(np.array([0.0, -0.0, -1.0, -np.inf, np.inf, 1e-45], np.float32), SHAPE))
    for i, x in enumerate(inputs):
        if clip is not None:
            x = np.clip(x, *clip).astype(np.float32)
        (ours,), (want,) = host.run([x]), ref.run([x])
        if name in ("ABS", "NEG"):
            assert ours.tobytes() == want.tobytes(), (name, i)
        else:
            assert float_error(ours, want)[1] <= FLOAT_RTOL, (name, i, float_error(ours, want),
                                                              x.reshape(-1)[np.argmax(np.abs(ours - want))])
