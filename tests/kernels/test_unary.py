"""int8 GELU, EXP, LOG, SQRT, RSQRT and ABS (edgeq_lut_s8: one 256-entry table per op, computed at generation
time as LiteRT computes the op, edgeq/passes/lower/int8/activations.py) against LiteRT's reference kernels,
and TFLM where it has the int8 op (ABS; the installed TFLM has no int8 GELU, EXP, LOG, SQRT or RSQRT).

Every configuration feeds all 256 int8 values (and random samples) through a model of independent one-op
branches, each with its own input and output quantization, so a table entry computed with the wrong float
function (numpy's instead of the C library's exp/log/erfc/tanh), the wrong rounding (SQRT truncates) or the
wrong fixed-point step (RSQRT's Newton-Raphson) shows as a mismatching byte. Keras models check what the
converter emits for the activations gelu (exact and tanh), exponential and softplus.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness import build_tflite, int8_tflite
from edgeq.frontend.tflite.reader import read_tflite
from test_activations import check

N = 256

# (input (scale, zero point), output (scale, zero point)) per branch: scales from 1/256 to 0.5, zero points
# across the range, scales equal (ABS's no-rescale path) and far apart.
_QUANTS = [
    ((0.05, 3), (0.03, -20)), ((0.1, -10), (0.02, -100)), ((0.013, 0), (0.011, -128)), ((0.5, 7), (0.3, -5)),
    ((0.02, -128), (0.02, -128)), ((1 / 256, 100), (0.07, 0)), ((0.2, 0), (0.0017, 12)), ((0.0123, -77), (0.5, 127)),
]
# SQRT and RSQRT are undefined below the input zero point (LiteRT stops with an error there): their
# branches use zero point -128, so every int8 value is a valid input.
_NONNEG_QUANTS = [((0.05, -128), (0.03, -20)), ((0.1, -128), (0.02, -100)), ((0.013, -128), (0.011, -128)),
                  ((0.5, -128), (0.3, -5)), ((1 / 256, -128), (0.07, 0)), ((0.2, -128), (0.0017, 12)),
                  ((2.0, -128), (0.001, -128)), ((0.0005, -128), (0.9, 0))]

# Operator versions LiteRT registers the int8 kernels under.
_VERSION = {"GELU": 2, "EXP": 2, "LOG": 2, "SQRT": 2, "RSQRT": 2, "ABS": 2}


def branches(kind: str, quants, options=None) -> bytes:
    """One ``kind`` op per (input, output) quantization, each on its own [1, 256] model input."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    tensors, ops = [], []
    for i, ((si, zi), (so, zo)) in enumerate(quants):
        tensors += [dict(shape=[1, N], dtype="int8", scale=si, zero_point=zi),
                    dict(shape=[1, N], dtype="int8", scale=so, zero_point=zo)]
        ops.append((kind, [2 * i], [2 * i + 1], options() if options else None))
    tfl = build_tflite(tensors, ops, list(range(0, 2 * len(quants), 2)), list(range(1, 2 * len(quants), 2)))
    m = s.ModelT.InitFromPackedBuf(bytearray(tfl), 0)
    for c in m.operatorCodes:
        c.version = _VERSION[kind]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _gelu_options(approximate: bool):
    def make():
        from tensorflow.lite.python import schema_py_generated as s

        o = s.GeluOptionsT()
        o.approximate = approximate
        return o
    return make


@pytest.mark.parametrize("approximate", [False, True], ids=["erf", "tanh"])
def test_gelu_tables(approximate):
    check(branches("GELU", _QUANTS, _gelu_options(approximate)), "GELU", roundings=("litert",))


@pytest.mark.parametrize("kind", ["EXP", "LOG"])
def test_float_tables(kind):
    check(branches(kind, _QUANTS), kind, roundings=("litert",))


def test_abs_table():
    check(branches("ABS", _QUANTS), "ABS")


@pytest.mark.parametrize("kind", ["SQRT", "RSQRT"])
def test_root_tables(kind):
    check(branches(kind, _NONNEG_QUANTS), kind, roundings=("litert",))


def test_tflm_has_no_int8_exp():
    from edgeq.passes.lower.int8.activations import lower_unary_table
    from edgeq.passes.lower.registry import LowerCtx, Unsupported

    g = read_tflite(branches("EXP", _QUANTS[:1]))
    with pytest.raises(Unsupported, match="TFLite Micro has no int8 EXP"):
        lower_unary_table(g, g.ops[0], LowerCtx(rounding="tflm"))


def test_rsqrt_fixed_point_matches_the_float_value():
    """GetInvSqrtQuantizedMultiplierExp's port: multiplier * 2^shift / 2^31 is 1/sqrt(v) to ~1e-6."""
    from edgeq.passes.lower.int8.activations import inv_sqrt_multiplier_exp

    for v in (2, 3, 7, 100, 255, 4096, 123457, (1 << 29) + 5, (1 << 31) - 1):
        m, s = inv_sqrt_multiplier_exp(v)
        assert abs(m * 2.0 ** s / 2**31 - 1 / np.sqrt(v)) < 2e-6 / np.sqrt(v) + 2**-31 * 2.0 ** s, v


# --- Keras models: what the converter emits ------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.3, 1.0, 4.0])
def test_keras_gelu_exponential_softplus(scale):
    import keras

    layers = [keras.layers.Activation("gelu"), keras.layers.Activation(lambda x: keras.ops.gelu(x, approximate=True)),
              keras.layers.Activation("exponential"), keras.layers.Activation("softplus")]
    inputs = [keras.Input((16, 20), batch_size=1) for _ in layers]  # one input each: the converter fuses
    model = keras.Model(inputs, [layer(x) for layer, x in zip(layers, inputs)])  # GELU only on its own input
    tfl = int8_tflite(model, scale=scale)
    gelus = [op.attrs["approximate"] for op in read_tflite(tfl).ops if op.kind == "GELU"]
    assert sorted(gelus) == [False, True]
    check(tfl, {"GELU", "EXP", "LOG"}, roundings=("litert",))


def test_keras_sqrt_rsqrt_abs():
    import tensorflow as tf

    from test_activations import fn_tflite

    tfl = fn_tflite(lambda x, y: [tf.math.sqrt(tf.abs(x) + 0.1), tf.math.rsqrt(tf.abs(y) + 0.5), tf.abs(x - y)],
                    ((16, 16), (16, 16)), scale=2.0)
    check(tfl, {"SQRT", "RSQRT", "ABS"}, roundings=("litert",))
