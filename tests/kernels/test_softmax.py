"""SOFTMAX int8 (output 1/256, -128) over the last axis, against LiteRT's reference kernel and TFLM.

Rows of 1 to 1000 values, ranks 1 to 4, input scales from 0.001 to 40 (the diff_min cut-off, the
multiplier cap), beta 0.1 to 10. Each model's inputs include every int8 value (tiled into rows).

Both references abort (TFLITE_CHECK) when a row's sum of exponentials reaches 512, which rows of more
than 511 near-equal values do; test inputs stay clear of that, and ``test_huge_flat_row_does_not_crash``
checks what the generated code does there instead (outputs 0).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import compile_host, int8_tflite
from test_activations import check, exhaustive_inputs, lower_op, rewrite_model
from edgeq.passes.lower.registry import Unsupported
from edgeq.passes.lower.int8.softmax import softmax_params


def _softmax_model(shapes, scales) -> bytes:
    import keras

    inputs = [keras.Input(s, batch_size=1) for s in shapes]
    model = keras.Model(inputs, [keras.layers.Softmax()(x) for x in inputs])
    rng = np.random.default_rng(0)
    calib = [(rng.standard_normal((32, *s)) * sc).astype(np.float32) for s, sc in zip(shapes, scales)]
    return int8_tflite(model, calib=calib)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_keras_softmax(scale):
    """Row lengths 2..300 and ranks 1..4, calibrated with N(0, scale^2) logits."""
    shapes = [(2,), (10,), (3, 7), (4, 4, 5), (1, 1, 10), (2, 3, 2, 17), (300,), (16, 16)]
    check(_softmax_model(shapes, [scale] * len(shapes)), "SOFTMAX")


def test_keras_softmax_wide_rows():
    """1000 classes (plus 1 and 511): wide logit ranges keep the references' sums below their limit."""
    check(_softmax_model([(1000,), (2, 1000), (1,), (511,)], [1.0, 4.0, 1.0, 0.2]), "SOFTMAX")


@functools.lru_cache(maxsize=None)
def branch_softmax(n: int = 8, shape=(4, 64)) -> bytes:
    """``n`` independent softmax ops on (4, 64) inputs; their quantization and beta get rewritten."""
    return _softmax_model([shape] * n, [1.0] * n)


def test_softmax_input_scales():
    """Many random rows too: the fixed-point exp and reciprocal show their last bits only near ties."""
    configs = [dict(inp=(0.001, 0)), dict(inp=(0.0625, -128)), dict(inp=(0.0634, 127)), dict(inp=(0.5, 3)),
               dict(inp=(2.0, -50)), dict(inp=(15.9, 10)), dict(inp=(16.0, 0)), dict(inp=(40.0, -7))]
    tfl = rewrite_model(branch_softmax(), configs)
    check(tfl, "SOFTMAX", inputs=exhaustive_inputs(tfl, n_random=200))


def test_short_rows_many_samples():
    """Rows of 8 with input scales 0.03 to 1: 300 random samples of 64 rows each."""
    tfl = _softmax_model([(8, 8)] * 6, [0.3, 1.0, 3.0, 5.0, 10.0, 30.0])
    check(tfl, "SOFTMAX", inputs=exhaustive_inputs(tfl, n_random=300))


def test_softmax_beta():
    betas = [0.1, 0.5, 2.0, 10.0, 1.7, 0.3, 4.0, 1.0]
    configs = [dict(beta=float(np.float32(b)), inp=(0.05 + 0.01 * i, 5 * i - 20)) for i, b in enumerate(betas)]
    check(rewrite_model(branch_softmax(), configs), "SOFTMAX")


def test_softmax_parameters():
    # diff_min: CalculateInputRadius(5, shift) -> rows keep only differences down to -diff_min
    assert softmax_params(1.0, 0.028065180405974388, False)[1:] == (21, -992)
    assert softmax_params(1.0, 0.28, False)[1:] == (25, -62)
    # the cap of the real multiplier: 2^31 - 1 (double rounding: shift 31 keeps only the maximum),
    # 2^30 - 1 in single-rounding builds
    assert softmax_params(1.0, 40.0, False) == ((1 << 31) - 1, 31, 0)
    assert softmax_params(1.0, 40.0, True) == ((1 << 31) - 2, 30, -1)


def test_unsupported_configurations():
    tfl = rewrite_model(branch_softmax(), [dict(out=(1 / 256, 0)), dict(out=(1 / 128, -128)),
                                           dict(inp=(1e-9, 0))])
    with pytest.raises(Unsupported, match="-128"):
        lower_op(tfl, "litert", 0)
    with pytest.raises(Unsupported, match="1/256"):
        lower_op(tfl, "tflm", 1)
    with pytest.raises(Unsupported, match="too small"):
        lower_op(tfl, "litert", 2)


def test_row_sum_just_below_the_limit():
    """500 maxima in a row of 1000: sum of exponentials ~500.1, the largest sum the references accept
    (final shift of 31)."""
    tfl = _softmax_model([(1000,)], [1.0])
    x = exhaustive_inputs(tfl, 0)[0]
    row = x[0].reshape(-1)
    row[:500], row[500:] = -128, 127
    check(tfl, "SOFTMAX", inputs=[x])


@pytest.mark.parametrize("rounding", ["litert", "tflm"])
def test_huge_flat_row_does_not_crash(rounding):
    """1000 equal logits: the references abort (sum 1000 >= 512); the generated code gives 0 (-128)."""
    tfl = _softmax_model([(1000,)], [1.0])
    _, host = compile_host(tfl, rounding)
    x = exhaustive_inputs(tfl, 0)[0]
    row = x[0].reshape(-1)
    row[:] = 3
    assert (host.run(x)[0] == -128).all()
    row[:500], row[500:] = -128, 127  # 500 maxima: round(256 / 500.1) = 1
    out = host.run(x)[0]
    assert (out[500:] == -127).all() and (out[:500] == -128).all()
