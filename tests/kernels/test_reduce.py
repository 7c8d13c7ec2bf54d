"""MEAN / REDUCE_MAX / REDUCE_MIN (int8): bit-exact with LiteRT's reference kernels and TFLM.

What we measured (see edgeq/passes/lower/int8/reduce.py): for int8 MEAN both references run
QuantizedMeanOrSum (sum of raw values, zero point * count subtracted, one multiplier with 1/count
folded in) with *double* rounding, for every axis set, with and without keep_dims, and also when input
and output quantization are identical -- neither takes a 4-D H,W fast path nor a plain integer division.
``test_mean_algorithm_candidates`` pins that down against Python models of the alternatives.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from edgeq.api import lower_tflite
from edgeq.errors import UnsupportedOpsError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.int8.reduce import mean_multiplier, resolve_axes, split_dims
from edgeq.passes.lower.quantmath import mul_by_qm_double, mul_by_qm_single, quantize_multiplier
from edgeq.quality.references import TFLM, LiteRT
from harness import assert_bit_exact, int8_tflite, random_inputs, tf_function_tflite

L = keras.layers


def model(shapes, fn) -> keras.Model:
    """A model with one input per shape; ``fn`` maps the list of inputs to the outputs."""
    inputs = [keras.Input(s, batch_size=1) for s in shapes]
    return keras.Model(inputs, fn(*inputs))


def set_quant(model_bytes: bytes, kind: str, scale=None, zero_point=None) -> bytes:
    """Give the output of every ``kind`` op the given quantization (default: its input's)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    m = s.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    sg = m.subgraphs[0]
    for op in sg.operators:
        c = m.operatorCodes[op.opcodeIndex]
        if max(c.builtinCode, c.deprecatedBuiltinCode) != getattr(s.BuiltinOperator, kind):
            continue
        src, dst = sg.tensors[op.inputs[0]].quantization, sg.tensors[op.outputs[0]].quantization
        if scale is None:
            dst.scale, dst.zeroPoint = list(src.scale), list(src.zeroPoint)
        else:
            dst.scale, dst.zeroPoint = [np.float32(scale)], [int(zero_point)]
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


# --- MEAN -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_2d(keepdims):
    """GlobalAveragePooling2D -> MEAN over [1, 2]: 1x1, odd and square spatial sizes, 1 / odd / 64
    channels, up to 1024 reduced elements."""
    shapes = [(5, 5, 3), (1, 1, 7), (7, 6, 1), (4, 9, 64), (32, 32, 2), (2, 3, 5)]
    if keepdims:  # a 1x1 pool that keeps its dims is the identity: the converter passes it through in float
        shapes.remove((1, 1, 7))
    m = model(shapes, lambda *xs: [L.GlobalAveragePooling2D(keepdims=keepdims)(x) for x in xs])
    tfl = assert_bit_exact(m, expect_ops={"MEAN"})
    g = read_tflite(tfl)
    assert {op.attrs["keep_dims"] for op in g.ops if op.kind == "MEAN"} == {keepdims}


@pytest.mark.parametrize("keepdims", [False, True])
def test_global_average_pooling_1d(keepdims):
    shapes = [(9, 4), (50, 1)] + ([] if keepdims else [(1, 3)])  # keepdims over length 1: the identity
    m = model(shapes, lambda *xs: [L.GlobalAveragePooling1D(keepdims=keepdims)(x) for x in xs])
    assert_bit_exact(m, expect_ops={"MEAN"})


@pytest.mark.parametrize("keepdims", [False, True])
def test_mean_axis_sets(keepdims):
    """keras.ops.mean in a functional model: single, non-adjacent, negative, unordered and all axes."""
    axes = [(1,), (2,), (-1,), (1, 3), (0, 2), (1, 2, 3), (0, 1, 2, 3), (2, 1)]
    m = model([(4, 5, 6)], lambda x: [keras.ops.mean(x, axis=a, keepdims=keepdims) for a in axes])
    assert_bit_exact(m, expect_ops={"MEAN"})


def test_mean_of_non_negative_input():
    """Calibrated on non-negative data (as after a ReLU): input zero point -128, large offsets."""
    rng = np.random.default_rng(3)
    calib = np.abs(rng.standard_normal((32, 6, 5, 4))).astype(np.float32)
    m = model([(6, 5, 4)], lambda x: [L.GlobalAveragePooling2D()(x), keras.ops.mean(x, axis=-1)])
    tfl = assert_bit_exact(m, expect_ops={"MEAN"}, calib=calib)
    g = read_tflite(tfl)
    assert g.tensor(g.inputs[0]).quant.zero_point[0] == -128


@pytest.mark.parametrize("shape,axis,keepdims", [((7,), -1, True), ((7,), 1, False), ((3, 8), 2, False),
                                                 ((3, 8), (1, 2), True)])
def test_mean_rank2_and_rank3(shape, axis, keepdims):
    m = model([shape], lambda x: keras.ops.mean(x, axis=axis, keepdims=keepdims))
    assert_bit_exact(m, expect_ops={"MEAN"})


@pytest.mark.parametrize("shape,fn", [
    ((5, 5, 3), lambda x: L.GlobalAveragePooling2D()(x)),
    ((6, 4, 8), lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)),
    ((4, 5, 6), lambda x: keras.ops.mean(x, axis=(1, 3))),
    ((4, 5, 6), lambda x: keras.ops.mean(x, axis=(0, 1, 2, 3))),
])
def test_mean_identical_input_and_output_quantization(shape, fn):
    """Same scale and zero point in and out (patched into the converted model)."""
    tfl = set_quant(int8_tflite(model([shape], fn)), "MEAN")
    g = read_tflite(tfl)
    op = next(op for op in g.ops if op.kind == "MEAN")
    assert g.tensor(op.inputs[0]).quant == g.tensor(op.outputs[0]).quant
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"MEAN"})


@pytest.mark.parametrize("scale_ratio,zero_point", [
    (3.0, -100),      # in/out > 1: positive shift
    (0.01, 127),      # small multiplier, extreme zero point
    (2.0 ** -28, 0),  # shift -27: the 1/count shift (5 for 42 elements) is clamped to 31 + shift = 4
    (1.0, -128),
])
def test_mean_chosen_output_quantization(scale_ratio, zero_point):
    base = int8_tflite(model([(6, 7, 5)], lambda x: L.GlobalAveragePooling2D()(x)))
    g = read_tflite(base)
    op = next(op for op in g.ops if op.kind == "MEAN")
    in_scale = g.tensor(op.inputs[0]).quant.scale[0]
    tfl = set_quant(base, "MEAN", in_scale / scale_ratio, zero_point)
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"MEAN"})


def test_mean_batch_of_two():
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec((2, 5, 4, 3), tf.float32)])
    def f(x):
        return tf.reduce_mean(x, axis=[1, 2]), tf.reduce_mean(x, axis=[0, 3], keepdims=True), \
            tf.reduce_max(x, axis=[1, 2])

    rng = np.random.default_rng(0)
    tfl = tf_function_tflite(f, [[rng.standard_normal((2, 5, 4, 3)).astype(np.float32)] for _ in range(16)])
    assert read_tflite(tfl).tensor(read_tflite(tfl).inputs[0]).shape[0] == 2
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"MEAN", "REDUCE_MAX"})


@settings(max_examples=6, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=4),
       data=st.data(), keepdims=st.booleans())
def test_random_mean_and_max(shape, data, keepdims):
    rank = len(shape) + 1  # plus the batch dim
    axes = data.draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if data.draw(st.booleans()) else a for a in axes]  # some negative
    full = (1, *shape)
    assume(any(full[a] > 1 for a in axes))  # reducing only size-1 dims is the identity: nothing to test
    m = model([tuple(shape)], lambda x: [keras.ops.mean(x, axis=tuple(axes), keepdims=keepdims),
                                         keras.ops.max(x, axis=tuple(axes), keepdims=keepdims)])
    tfl = int8_tflite(m)
    kinds = {op.kind for op in read_tflite(tfl).ops}
    if "MEAN" not in kinds:  # reducing only size-1 dims may be folded into a RESHAPE by the converter
        return
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"MEAN"}, n=10)


def test_mean_algorithm_candidates():
    """Which algorithm the references run, checked against Python models of the candidates: only
    QuantizedMeanOrSum with double rounding matches both, with identical or different quantization.
    (The alternatives: single rounding; the old reference_integer_ops::Mean = requantize, then
    rounded division by count; TFLM's plain sum / count for identical quantization.)"""
    def candidates(x, axes, si, zi, so, zo):
        s = x.astype(np.int64).sum(axis=axes).reshape(-1)
        n = int(np.prod([x.shape[a] for a in axes]))
        m, sh = quantize_multiplier(float(si) / float(so))
        m2, sh2 = mean_multiplier(si, so, n)
        rdiv = lambda a: (a + n // 2) // n if a > 0 else -((-a + n // 2) // n)  # noqa: E731
        clip = lambda v: np.clip(np.array(v), -128, 127)  # noqa: E731
        return {
            "qmos_double": clip([mul_by_qm_double(int(v - zi * n), m2, sh2) + zo for v in s]),
            "qmos_single": clip([mul_by_qm_single(int(v - zi * n), m2, sh2) + zo for v in s]),
            "requant_then_divide": clip([rdiv(mul_by_qm_double(int(v - zi * n), m, sh)) + zo for v in s]),
            "sum_div_count": np.array([int(v / n) if v >= 0 else -((-v) // n) for v in s]),
        }

    for same in (False, True):
        tfl = int8_tflite(model([(7, 6, 8)], lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)))
        if same:
            tfl = set_quant(tfl, "MEAN")
        g = read_tflite(tfl)
        ti, to = (g.tensor(t) for t in (g.ops[0].inputs[0], g.ops[0].outputs[0]))
        q = (ti.quant.scale[0], ti.quant.zero_point[0], to.quant.scale[0], to.quant.zero_point[0])
        refs = {"litert": LiteRT(tfl), "tflm": TFLM(tfl)}
        matches = {r: set() for r in refs}
        for k, (x,) in enumerate(random_inputs(tfl, 10)):
            c = candidates(x, (1, 2), *q)
            for r, interp in refs.items():
                y = interp.run(x)[0]
                ok = {name for name, v in c.items() if np.array_equal(v, y)}
                matches[r] = ok if k == 0 else matches[r] & ok
        assert matches == {"litert": {"qmos_double"}, "tflm": {"qmos_double"}}, (same, matches)


# --- REDUCE_MAX / REDUCE_MIN -------------------------------------------------------------------------

@pytest.mark.parametrize("keepdims", [False, True])
def test_global_max_pooling(keepdims):
    # a 1x1 pool that keeps its dims is the identity (the converter passes it through in float)
    shapes = [(5, 5, 3), (2, 1, 7) if keepdims else (1, 1, 7), (8, 3, 1), (9, 4)]
    m = model(shapes, lambda a, b, c, d: [L.GlobalMaxPooling2D(keepdims=keepdims)(x) for x in (a, b, c)]
              + [L.GlobalMaxPooling1D(keepdims=keepdims)(d)])
    assert_bit_exact(m, expect_ops={"REDUCE_MAX"})


def test_max_and_min_axis_sets():
    axes = [(1,), (-1,), (1, 3), (0, 2), (0, 1, 2, 3)]
    m = model([(4, 5, 6)], lambda x: [keras.ops.max(x, axis=a) for a in axes]
              + [keras.ops.min(x, axis=a, keepdims=True) for a in axes])
    assert_bit_exact(m, expect_ops={"REDUCE_MAX", "REDUCE_MIN"})


def test_reduce_max_with_requantization_is_unsupported():
    tfl = int8_tflite(model([(4, 4, 3)], lambda x: L.GlobalMaxPooling2D()(x)))
    g = read_tflite(tfl)
    op = next(op for op in g.ops if op.kind == "REDUCE_MAX")
    tfl = set_quant(tfl, "REDUCE_MAX", g.tensor(op.inputs[0]).quant.scale[0] * 2, 3)
    with pytest.raises(UnsupportedOpsError, match="identical input and output quantization"):
        lower_tflite(tfl)


# --- the Python side of the lowering -----------------------------------------------------------------

def test_split_dims_merges_and_drops():
    # NHWC mean over H, W: one kept block (N*1 merged away), one reduced block, channels kept
    assert split_dims((1, 5, 4, 3), [1, 2]) == ([(3, 1)], [(20, 3)])
    assert split_dims((2, 5, 4, 3), [1, 2]) == ([(2, 60), (3, 1)], [(20, 3)])
    assert split_dims((2, 5, 1, 3), [0, 3]) == ([(5, 3)], [(2, 15), (3, 1)])
    assert split_dims((1, 1, 1), [1]) == ([(1, 0)], [(1, 0)])
    assert split_dims((4, 5, 6), [0, 1, 2]) == ([(1, 0)], [(120, 1)])
    assert resolve_axes(np.array([-1, 3, 1]), 4) == [3, 1]


@pytest.mark.parametrize("count", [1, 2, 3, 25, 1024, 4097])
def test_mean_multiplier_matches_reference_formula(count):
    m, s = quantize_multiplier(0.027315523475408554 / 0.0042968494817614555)
    k = min(63 - (64 - count.bit_length()), 32, 31 + s)
    assert mean_multiplier(0.027315523475408554, 0.0042968494817614555, count) == ((m << k) // count, s - k)



@pytest.mark.parametrize("rounding,kinds", [("litert", ("MEAN",)), ("tflm", ("MEAN", "SUM"))])
def test_mean_and_sum_lower_to_double_rounding(rounding, kinds):
    """The kernels (reduce_impl.h) round MEAN and SUM twice without reading the params' rounding field:
    every lowering must ask for exactly that (SUM lowers for TFLM's rounding only)."""
    def fn(x):
        outs = [L.GlobalAveragePooling2D()(x)]
        return outs + [keras.ops.sum(x, axis=[1, 2])] if "SUM" in kinds else outs

    g = lower_tflite(int8_tflite(model([(6, 5, 4)], fn)), rounding)
    ops = [op for op in g.ops if op.kind in ("MEAN", "SUM")]
    assert sorted(op.kind for op in ops) == sorted(kinds)
    assert all(dict(op.lowered.fields)["rounding"] == 0 for op in ops)
