"""CONCATENATION, PAD / PADV2 and STRIDED_SLICE on int8, bit-exact with LiteRT and TFLM.

All three copy bytes in both references (int8 CONCATENATION requires every input to share the
output's quantization; the converter inserts QUANTIZE ops otherwise), so these tests are about
indexing: axes, negative axes, padding patterns, slice bounds, masks and strides.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorflow.lite.python import schema_py_generated as schema

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.registry import LowerCtx, Unsupported
from edgeq.passes.lower.int8 import shape_ops
from harness import assert_bit_exact, build_tflite

Q = dict(scale=0.05, zero_point=-7)


def _inputs(shapes):
    # named so the converter's (alphabetical) input order is the creation order
    return [keras.Input(s, batch_size=1, name=f"in{i}") for i, s in enumerate(shapes)]


# --- CONCATENATION --------------------------------------------------------------------------------

@pytest.mark.parametrize("shapes,axis", [
    ([(4, 4, 3), (4, 4, 5)], -1),
    ([(4, 4, 1), (4, 4, 1), (4, 4, 7)], 3),
    ([(2, 4, 3), (5, 4, 3)], 1),
    ([(4, 2, 3), (4, 6, 3), (4, 1, 3), (4, 3, 3)], -2),
    ([(1, 1, 16), (1, 1, 1)], -1),
    ([(3, 5, 2), (3, 5, 2)], 0),
    ([(7,), (1,), (16,)], -1),
    ([(6, 3), (2, 3)], 1),
])
def test_concatenate(shapes, axis):
    m = keras.Model(ins := _inputs(shapes), keras.layers.Concatenate(axis=axis)(ins))
    assert_bit_exact(m, expect_ops={"CONCATENATION"})


def test_concatenate_inputs_of_different_ranges(scales=(5, 0.01, 1, 0.5)):
    """The converter gives the concatenation one quantization and requantizes where it must.
    (Equal input shapes: the harness feeds calibration data in Keras input order, which the converted
    model need not keep.)"""
    shapes = [(4, 4, 3)] * len(scales)
    ins = _inputs(shapes)
    dense = [keras.layers.Dense(3)(x) for x in ins]  # producers whose output scale is free
    m = keras.Model(ins, keras.layers.Concatenate()(ins + dense))
    rng = np.random.default_rng(0)
    calib = [(rng.standard_normal((32, *s)) * k).astype(np.float32) for s, k in zip(shapes, scales)]
    assert_bit_exact(m, expect_ops={"CONCATENATION", "FULLY_CONNECTED"}, calib=calib)


def test_concatenate_with_constant():
    inp = keras.Input((6, 7, 3), batch_size=1)
    const = tf.constant(np.linspace(-1, 1, 6 * 7 * 2).reshape(1, 6, 7, 2).astype(np.float32))
    m = keras.Model(inp, keras.layers.Lambda(lambda t: tf.concat([const, t, const], -1))(inp))
    tfl = assert_bit_exact(m, expect_ops={"CONCATENATION"})
    g = read_tflite(tfl)
    assert any(g.tensor(t).is_const for op in g.ops for t in op.inputs if op.kind == "CONCATENATION")


@pytest.mark.parametrize("n,axis", [(12, -1), (9, 0), (5, 1)])
def test_concatenate_many_inputs(n, axis):
    """Hand-built: many inputs (TFLM's kernel takes at most 10), different extents along the axis."""
    rng = np.random.default_rng(n)
    base = [2, 3, 4]
    ext = rng.integers(1, 5, n)
    shapes = [[*base[:axis % 3], int(e), *base[axis % 3 + 1:]] for e in ext]
    out = list(base)
    out[axis % 3] = int(ext.sum())
    tensors = [dict(shape=s, dtype="int8", **Q) for s in shapes] + [dict(shape=out, dtype="int8", **Q)]
    opt = schema.ConcatenationOptionsT()
    opt.axis = axis
    tfl = build_tflite(tensors, [("CONCATENATION", list(range(n)), [n], opt)], list(range(n)), [n])
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"CONCATENATION"},
                     roundings=("litert", "tflm") if n <= 10 else ("litert",))


@pytest.mark.parametrize("act", ["RELU", "RELU6"])
def test_concatenate_then_activation_fuses(act):
    """A RELU with the concatenation's quantization is folded into it (edgeq's fuse pass) as a clamp."""
    q = dict(scale=0.03, zero_point=-20)
    tensors = [dict(shape=[1, 4, 3], dtype="int8", **q), dict(shape=[1, 4, 5], dtype="int8", **q),
               dict(shape=[1, 4, 8], dtype="int8", **q), dict(shape=[1, 4, 8], dtype="int8", **q)]
    opt = schema.ConcatenationOptionsT()
    opt.axis = -1
    tfl = build_tflite(tensors, [("CONCATENATION", [0, 1], [2], opt), (act, [2], [3], None)], [0, 1], [3])
    from edgeq.api import lower_tflite
    g = lower_tflite(tfl)
    assert [op.kind for op in g.ops] == ["CONCATENATION"]
    assert g.ops[0].attrs["fused_activation_function"] == act
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"CONCATENATION"})


def test_concatenate_rejects_mixed_quantization():
    tensors = [dict(shape=[1, 3], dtype="int8", scale=0.1, zero_point=0),
               dict(shape=[1, 3], dtype="int8", scale=0.2, zero_point=0),
               dict(shape=[1, 6], dtype="int8", scale=0.1, zero_point=0)]
    opt = schema.ConcatenationOptionsT()
    opt.axis = 1
    g = read_tflite(build_tflite(tensors, [("CONCATENATION", [0, 1], [2], opt)], [0, 1], [2]))
    with pytest.raises(Unsupported, match="quantized differently"):
        shape_ops.lower_concatenation(g, g.ops[0], LowerCtx())


# --- PAD / PADV2 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape,padding", [
    ((5, 6, 3), 1), ((5, 6, 3), ((1, 2), (0, 3))), ((4, 4, 16), ((0, 0), (2, 2))),
    ((4, 4, 1), ((3, 0), (0, 0))), ((1, 1, 1), ((4, 5), (6, 3))), ((2, 3, 5), ((0, 1), (1, 0))),
])
def test_zero_padding_2d(shape, padding):
    inp = keras.Input(shape, batch_size=1)
    m = keras.Model(inp, keras.layers.ZeroPadding2D(padding)(inp))
    assert_bit_exact(m, expect_ops={"PAD"})


@pytest.mark.parametrize("padding", [1, (0, 3), (2, 1)])
def test_zero_padding_1d(padding):
    inp = keras.Input((9, 4), batch_size=1)
    m = keras.Model(inp, keras.layers.ZeroPadding1D(padding)(inp))
    assert_bit_exact(m, expect_ops={"PAD"})


def test_zero_padding_3d():
    """A 5-D PAD."""
    inp = keras.Input((3, 4, 5, 2), batch_size=1)
    m = keras.Model(inp, keras.layers.ZeroPadding3D(((1, 0), (2, 1), (0, 0)))(inp))
    assert_bit_exact(m, expect_ops={"PAD"})


def test_zero_padding_nonzero_zero_point():
    """Non-negative activations: the zero point (the pad value) is -128."""
    inp = keras.Input((5, 5, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.ZeroPadding2D(2)(inp))
    calib = np.random.default_rng(0).uniform(0, 6, (32, 5, 5, 3)).astype(np.float32)
    tfl = assert_bit_exact(m, expect_ops={"PAD"}, calib=calib)
    g = read_tflite(tfl)
    assert g.tensor(g.outputs[0]).quant.zero_point[0] == -128


@pytest.mark.parametrize("paddings,value", [
    ([[0, 0], [1, 1], [2, 0], [0, 1]], 0.5), ([[0, 0], [0, 0], [0, 0], [3, 2]], -2.0),
    ([[1, 0], [0, 2], [1, 1], [0, 0]], 0.0),
])
def test_tf_pad(paddings, value):
    """tf.pad on any axis (channels, batch); a non-zero constant gives PADV2."""
    inp = keras.Input((4, 5, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.Lambda(lambda t: tf.pad(t, paddings, constant_values=value))(inp))
    assert_bit_exact(m, expect_ops={"PADV2"} if value else {"PAD"})


@pytest.mark.parametrize("kind,pdtype", [("PAD", "int32"), ("PAD", "int64"), ("PADV2", "int32")])
@pytest.mark.parametrize("shape,pads", [
    ([7], [[2, 3]]), ([3, 4], [[0, 0], [1, 2]]), ([2, 3, 4], [[1, 0], [0, 0], [0, 2]]),
    ([2, 2, 3, 2, 3], [[0, 1], [1, 0], [0, 0], [2, 0], [0, 1]]), ([2, 3, 4, 5], [[0, 0]] * 4),
])
def test_pad_hand_built(kind, pdtype, shape, pads):
    """Ranks 1 to 5, int64 paddings, PADV2 with an explicit constant."""
    pads = np.array(pads, pdtype)
    out = [n + a + b for n, (a, b) in zip(shape, pads)]
    tensors = [dict(shape=shape, dtype="int8", **Q), dict(shape=list(pads.shape), dtype=pdtype, data=pads),
               dict(shape=out, dtype="int8", **Q)]
    ins = [0, 1]
    if kind == "PADV2":
        tensors.append(dict(shape=[], dtype="int8", data=np.array(93, np.int8), **Q))
        ins.append(3)
    tfl = build_tflite(tensors, [(kind, ins, [2], None)], [0], [2])
    tflm_ok = pdtype == "int32"  # TFLM takes int32 paddings only
    assert_bit_exact(None, model_bytes=tfl, expect_ops={kind},
                     roundings=("litert", "tflm") if tflm_ok else ("litert",))


def test_pad_collapse():
    assert shape_ops.collapse_pad([1, 5, 6, 3], [0, 1, 0, 0], [0, 2, 0, 0]) == [(1, 0, 0), (90, 18, 36)]
    assert shape_ops.collapse_pad([2, 3, 4], [0, 0, 1], [0, 0, 0]) == [(6, 0, 0), (4, 1, 0)]


# --- STRIDED_SLICE --------------------------------------------------------------------------------

SLICES = {
    "rows_cols_step": lambda t: t[:, 1:5, ::2, :],
    "negative": lambda t: t[:, -3:, :, -2:],
    "reverse_w": lambda t: t[:, :, ::-1, :],
    "reverse_step_3": lambda t: t[:, 6:0:-3, 1:8:3, ::-2],
    "shrink_row": lambda t: t[:, 2],
    "shrink_two": lambda t: t[:, -1, :, 1],
    "ellipsis": lambda t: t[..., 1:3],
    "channel_stride": lambda t: t[:, :, :, 1::2],
    "out_of_range": lambda t: t[:, -100:100, 3:50, :],
    "single": lambda t: t[:, 3:4, 5:6, 2:3],
}


def test_keras_slicing():
    """All of SLICES as the outputs of one model (one conversion); a failure names the op."""
    inp = keras.Input((8, 9, 4), batch_size=1)
    m = keras.Model(inp, [f(inp) for f in SLICES.values()])
    tfl = assert_bit_exact(m, expect_ops={"STRIDED_SLICE"})
    assert [op.kind for op in read_tflite(tfl).ops].count("STRIDED_SLICE") == len(SLICES)


@pytest.mark.parametrize("layer", [
    keras.layers.Cropping2D(((1, 2), (0, 3))), keras.layers.Cropping2D(1), keras.layers.Cropping1D((2, 1)),
])
def test_cropping(layer):
    shape = (6, 7, 3) if isinstance(layer, keras.layers.Cropping2D) else (9, 3)
    inp = keras.Input(shape, batch_size=1)
    m = keras.Model(inp, layer(inp))
    assert_bit_exact(m, expect_ops={"STRIDED_SLICE"})


def test_slice_5d():
    inp = keras.Input((3, 4, 5, 2), batch_size=1)
    m = keras.Model(inp, inp[:, 1:, ::2, 1:4, :])
    assert_bit_exact(m, expect_ops={"STRIDED_SLICE"}, roundings=("litert",))  # TFLM: at most 4-D


def _ss_model(in_shape, out_shape, begin, end, strides, **masks) -> bytes:
    opt = schema.StridedSliceOptionsT()
    names = {"begin_mask": "beginMask", "end_mask": "endMask", "ellipsis_mask": "ellipsisMask",
             "new_axis_mask": "newAxisMask", "shrink_axis_mask": "shrinkAxisMask", "offset": "offset"}
    for k, v in masks.items():
        setattr(opt, names[k], v)
    n = len(begin)
    tensors = [dict(shape=list(in_shape), dtype="int8", **Q),
               dict(shape=[n], dtype="int32", data=np.array(begin, np.int32)),
               dict(shape=[n], dtype="int32", data=np.array(end, np.int32)),
               dict(shape=[n], dtype="int32", data=np.array(strides, np.int32)),
               dict(shape=list(out_shape), dtype="int8", **Q)]
    return build_tflite(tensors, [("STRIDED_SLICE", [0, 1, 2, 3], [4], opt)], [0], [4])


@pytest.mark.parametrize("in_shape,out_shape,begin,end,strides,masks", [
    # x[..., 1:3]: the ellipsis covers the first three axes
    ((2, 3, 4, 5), (2, 3, 4, 2), [0, 1], [0, 3], [1, 1], dict(ellipsis_mask=1)),
    # x[1, ..., ::-2]: shrink, ellipsis in the middle, reverse
    ((2, 3, 4, 5), (3, 4, 3), [1, 0, 0], [2, 0, 0], [1, 1, -2],
     dict(ellipsis_mask=2, shrink_axis_mask=1, begin_mask=4, end_mask=4)),
    # x[:, None, 1:]: a new axis
    ((3, 4), (3, 1, 3), [0, 0, 1], [0, 0, 0], [1, 1, 1], dict(begin_mask=1, end_mask=5, new_axis_mask=2)),
    # offset: end is a size, counted from begin
    ((6, 7), (3, 2), [2, 1], [3, 4], [1, 2], dict(offset=True)),
    # fewer indices than dimensions: the rest are taken whole
    ((4, 5, 6), (2, 5, 6), [1], [3], [1], {}),
])
def test_strided_slice_masks(in_shape, out_shape, begin, end, strides, masks):
    """What the converter canonicalizes away (ellipsis, new axis, offset, short index lists): LiteRT
    only, and edgeq refuses them in TFLM mode (TFLM's kernel zeroes those masks, has no offset and
    reads one index per dimension)."""
    tfl = _ss_model(in_shape, out_shape, begin, end, strides, **masks)
    tflm_ok = len(begin) == len(in_shape) and not any(masks.get(k) for k in ("ellipsis_mask", "new_axis_mask",
                                                                                "offset"))
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"STRIDED_SLICE"},
                     roundings=("litert", "tflm") if tflm_ok else ("litert",))
    if not tflm_ok:
        g = read_tflite(tfl)
        with pytest.raises(Unsupported, match="TFLM"):
            shape_ops.lower_strided_slice(g, g.ops[0], LowerCtx(rounding="tflm"))


@st.composite
def _slices(draw):
    rank = draw(st.integers(1, 4))
    shape = draw(st.lists(st.integers(1, 7), min_size=rank, max_size=rank))
    begin, end, strides = [], [], []
    bm = em = sm = 0
    expr = []
    for i, n in enumerate(shape):
        if draw(st.integers(0, 5)) == 0:  # integer index: shrink
            k = draw(st.integers(-n, n - 1))
            begin += [k]
            end += [k + 1]
            strides += [1]
            sm |= 1 << i
            expr.append(k)
            continue
        step = draw(st.sampled_from([1, 1, 2, 3, -1, -2, 5]))
        b = draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
        e = draw(st.one_of(st.none(), st.integers(-n - 2, n + 2)))
        begin += [0 if b is None else b]
        end += [0 if e is None else e]
        strides += [step]
        bm |= (b is None) << i
        em |= (e is None) << i
        expr.append(slice(b, e, step))
    out = np.zeros(shape)[tuple(expr)].shape
    return shape, out, begin, end, strides, dict(begin_mask=bm, end_mask=em, shrink_axis_mask=sm)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_slices())
def test_strided_slice_random(case):
    """Random Python slices (numpy gives the expected shape) on ranks 1-4, against both references."""
    shape, out, begin, end, strides, masks = case
    if 0 in out or not out:
        return  # empty or 0-D outputs: nothing to compare
    tfl = _ss_model(shape, out, begin, end, strides, **masks)
    assert_bit_exact(None, model_bytes=tfl, expect_ops={"STRIDED_SLICE"}, n=4)


def test_slice_collapse():
    # x[:, 1:3, :] on (2, 4, 5): rows of 10 contiguous elements, one per batch
    shape, first, counts, steps, _ = shape_ops.strided_slice_axes((2, 4, 5), [0, 1, 0], [0, 3, 0], [1, 1, 1],
                                                                  begin_mask=5, end_mask=5)
    assert shape_ops.collapse_slice(shape, first, counts, steps) == (5, [(2, 20), (10, 1)])
    # x[:, ::-1] on (3, 4): reversed rows
    shape, first, counts, steps, _ = shape_ops.strided_slice_axes((3, 4), [0, 0], [0, 0], [1, -1],
                                                                  begin_mask=3, end_mask=3)
    assert shape_ops.collapse_slice(shape, first, counts, steps) == (3, [(3, 4), (4, -1)])
