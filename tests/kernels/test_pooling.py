"""AVERAGE_POOL_2D / MAX_POOL_2D: bit-exact with LiteRT's reference kernels and TFLM.

Both references run the same reference_integer_ops code (window clipped to the input, padded taps not
counted, average = (acc +- count/2) / count truncating, no requantization), so one kernel serves both
roundings. Many geometries go into one model as parallel branches to keep the conversion count low.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower import registry
from edgeq.passes.lower.registry import LowerCtx, Unsupported
from harness import assert_bit_exact, tf_function_tflite

L = keras.layers
KIND = {L.AveragePooling2D: "AVERAGE_POOL_2D", L.MaxPooling2D: "MAX_POOL_2D",
        L.AveragePooling1D: "AVERAGE_POOL_2D", L.MaxPooling1D: "MAX_POOL_2D"}
POOL2D = [L.AveragePooling2D, L.MaxPooling2D]


def pool_ops(tfl: bytes, kind: str):
    g = read_tflite(tfl)
    return g, [op for op in g.ops if op.kind == kind]


@pytest.mark.parametrize("layer", POOL2D)
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("shape", [(9, 8, 5), (7, 11, 1)])
def test_pool_sizes_and_strides(layer, padding, shape):
    """pool 2, 3, (2,3) x strides 1, 2, 3, default (= pool) as 12 parallel branches; stride 3 with
    pool 2 is stride > kernel; odd sizes make SAME padding uneven (more padding after than before)."""
    inp = keras.Input(shape, batch_size=1)
    configs = [(p, s) for p in (2, 3, (2, 3)) for s in (1, 2, 3, None)]
    m = keras.Model(inp, [layer(p, s, padding=padding)(inp) for p, s in configs])
    tfl = assert_bit_exact(m, expect_ops={KIND[layer]})
    _, ops = pool_ops(tfl, KIND[layer])
    # the converter merges identical branches (stride None == stride pool)
    pair = lambda v: (v, v) if isinstance(v, int) else v  # noqa: E731
    want = {pair(p) + pair(s if s is not None else p) for p, s in configs}
    got = {(op.attrs["filter_height"], op.attrs["filter_width"], op.attrs["stride_h"], op.attrs["stride_w"])
           for op in ops}
    assert got == want
    assert {op.attrs["padding"] for op in ops} == {padding.upper()}


@pytest.mark.parametrize("layer", POOL2D)
@pytest.mark.parametrize("act,fused", [
    (lambda x: L.ReLU()(x), "RELU"),
    (lambda x: keras.ops.relu6(x), "RELU6"),
    (lambda x: keras.ops.clip(x, -1.0, 1.0), "RELU_N1_TO_1"),
])
def test_fused_activation(layer, act, fused):
    inp = keras.Input((8, 7, 6), batch_size=1)
    m = keras.Model(inp, [act(layer(2)(inp)), act(layer(3, 2, padding="same")(inp))])
    # calibration range ~ +-12 so that the RELU6 / RELU_N1_TO_1 clamps fall inside the int8 range
    tfl = assert_bit_exact(m, expect_ops={KIND[layer]}, scale=4.0)
    _, ops = pool_ops(tfl, KIND[layer])
    assert [op.attrs["fused_activation_function"] for op in ops] == [fused, fused]


@pytest.mark.parametrize("layer", POOL2D)
def test_edge_geometries(layer):
    """kernel as large as the input (valid and same), pool 1 (a copy), a 1x1 input, 1-wide rows,
    64 channels, and a window larger than the input with SAME padding."""
    branches = [
        ((6, 5, 3), lambda x: layer((6, 5))(x)),
        ((6, 5, 3), lambda x: layer((6, 5), padding="same")(x)),
        ((6, 5, 3), lambda x: layer(1)(x)),
        ((1, 1, 7), lambda x: layer(1)(x)),
        ((1, 1, 7), lambda x: layer(2, padding="same")(x)),
        ((1, 9, 2), lambda x: layer((1, 4), 3, padding="same")(x)),
        ((4, 4, 64), lambda x: layer(2)(x)),
        ((3, 3, 4), lambda x: layer(5, 2, padding="same")(x)),
    ]
    inputs = [keras.Input(s, batch_size=1) for s, _ in branches]
    m = keras.Model(inputs, [f(x) for x, (_, f) in zip(inputs, branches)])
    assert_bit_exact(m, expect_ops={KIND[layer]})


@pytest.mark.parametrize("layer", [L.AveragePooling1D, L.MaxPooling1D])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_pool1d(layer, padding):
    inp = keras.Input((11, 3), batch_size=1)
    m = keras.Model(inp, [layer(p, s, padding=padding)(inp) for p in (2, 3, 4) for s in (1, 2, 3)])
    assert_bit_exact(m, expect_ops={KIND[layer], "RESHAPE"})


def test_batch_of_two():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((2, 7, 6, 3), tf.float32)])
    def f(x):
        a = tf.nn.avg_pool2d(x, 3, 2, "SAME")
        b = tf.nn.max_pool2d(x, (2, 3), (1, 2), "VALID")
        return tf.nn.relu(a), b

    rng = np.random.default_rng(0)
    tfl = tf_function_tflite(f, [[rng.standard_normal((2, 7, 6, 3)).astype(np.float32)] for _ in range(16)])
    g = read_tflite(tfl)
    assert g.tensor(g.inputs[0]).shape[0] == 2
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"AVERAGE_POOL_2D", "MAX_POOL_2D"})


@settings(max_examples=6, deadline=None)
@given(
    h=st.integers(1, 10), w=st.integers(1, 10), c=st.integers(1, 9),
    fh=st.integers(1, 4), fw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
    padding=st.sampled_from(["same", "valid"]),
)
def test_random_geometry(h, w, c, fh, fw, sh, sw, padding):
    if padding == "valid":
        fh, fw = min(fh, h), min(fw, w)
    inp = keras.Input((h, w, c), batch_size=1)
    outs = [layer((fh, fw), (sh, sw), padding=padding)(inp) for layer in POOL2D]
    assert_bit_exact(keras.Model(inp, outs), expect_ops={"AVERAGE_POOL_2D", "MAX_POOL_2D"}, n=10)


def test_invalid_geometry_is_unsupported():
    """Configurations the references reject are reported as Unsupported, not miscompiled."""
    import dataclasses

    from harness import int8_tflite

    inp = keras.Input((4, 4, 2), batch_size=1)
    g = read_tflite(int8_tflite(keras.Model(inp, L.AveragePooling2D(2)(inp))))
    op = g.ops[0]
    fn = registry()["AVERAGE_POOL_2D"]
    fn(g, op, LowerCtx())  # fine as converted
    with pytest.raises(Unsupported, match="positive"):
        fn(g, dataclasses.replace(op, attrs=dict(op.attrs, stride_h=0)), LowerCtx())
    # a VALID 5x5 window on a 4x4 input has no output; the declared (1, 2, 2, 2) does not match
    with pytest.raises(Unsupported, match="output shape"):
        fn(g, dataclasses.replace(op, attrs=dict(op.attrs, filter_height=5, filter_width=5)), LowerCtx())
