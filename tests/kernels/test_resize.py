"""RESIZE_NEAREST_NEIGHBOR vs LiteRT reference kernels and TFLM, byte for byte.

The source indices are computed at generation time in float32 as TFLite's GetNearestNeighbor does;
the size pairs below include ones where float64 or exact arithmetic picks a different source row or
column (e.g. 14 -> 23, 26 -> 22, 32 -> 15, 2 -> 41), so a kernel that rounds differently fails.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings, strategies as st

from harness import assert_bit_exact, int8_tflite, tf_function_tflite
from harness_int16 import assert_bit_exact16
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.int8.resize import nearest_indices

OPS = {"RESIZE_NEAREST_NEIGHBOR"}
MODES = {  # (align_corners, half_pixel_centers): tf.image.resize / UpSampling2D / Resizing use (F, T)
    "half_pixel": (False, True),
    "legacy": (False, False),       # tf.compat.v1.image.resize_nearest_neighbor default
    "align_corners": (True, False),
}


def _convert_fn(fn, in_shape, batch=1, seed=0) -> bytes:
    """int8 TFLite from a tf.function (for flag combinations no Keras layer emits)."""
    f = tf.function(fn, input_signature=[tf.TensorSpec((batch, *in_shape), tf.float32)])
    rng = np.random.default_rng(seed)
    return tf_function_tflite(f, [[rng.standard_normal((batch, *in_shape)).astype(np.float32)] for _ in range(16)])


def _resize_model(in_shape, sizes, mode, batch=1) -> bytes:
    """One op per output size, all reading the same input: one conversion covers many sizes."""
    align, half = MODES[mode]

    def fn(x):
        return [tf.raw_ops.ResizeNearestNeighbor(images=x, size=list(s), align_corners=align,
                                                 half_pixel_centers=half) for s in sizes]

    tfl = _convert_fn(fn, in_shape, batch)
    ops = [op for op in read_tflite(tfl).ops if op.kind == "RESIZE_NEAREST_NEIGHBOR"]
    assert len(ops) == len(sizes) and all(
        (op.attrs["align_corners"], op.attrs["half_pixel_centers"]) == (align, half) for op in ops)
    return tfl


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("in_shape,sizes", [
    # float32-sensitive pairs: (14 -> 23, 26 -> 22), (32 -> 15, 39 -> 33), 2 -> 41
    ((14, 26, 2), [(23, 22), (28, 52), (7, 13), (1, 1)]),
    ((32, 39, 1), [(15, 33), (29, 57), (64, 78)]),
    ((2, 3, 3), [(41, 47), (4, 6), (6, 9), (5, 7), (1, 3), (2, 3)]),   # x2, x3, identity, non-integer
    ((5, 8, 7), [(10, 24), (3, 5), (9, 1), (13, 17), (4, 8)]),         # (2,3)-style, up and down
    ((1, 1, 4), [(1, 1), (3, 2), (1, 5)]),                              # 1x1 input
])
def test_resize_sizes(in_shape, sizes, mode):
    assert_bit_exact(None, model_bytes=_resize_model(in_shape, sizes, mode), expect_ops=OPS, n=6)


@pytest.mark.parametrize("h,w", [(7, 11), (3, 2), (9, 4), (23, 22)])
def test_keras_resizing_layer(h, w):
    """keras.layers.Resizing(interpolation="nearest"): half_pixel_centers, non-integer ratios."""
    inp = keras.Input((6, 13, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.Resizing(h, w, interpolation="nearest")(inp))
    tfl = assert_bit_exact(m, expect_ops=OPS)
    op = read_tflite(tfl).ops[0]
    assert (op.attrs["align_corners"], op.attrs["half_pixel_centers"]) == (False, True)


@pytest.mark.parametrize("factor", [2, 3, (2, 3)])
def test_upsampling_by_integer_factor(factor):
    """Nearest upsampling by integer factors. keras 3 UpSampling2D lowers to RESHAPE+TILE, so the
    resize form (what tf.keras' UpSampling2D emitted: tf.image.resize, nearest) is built directly."""
    fy, fx = (factor, factor) if isinstance(factor, int) else factor
    h, w, c = 4, 5, 3

    def fn(x):
        return tf.image.resize(x, (h * fy, w * fx), method="nearest")

    tfl = assert_bit_exact(None, model_bytes=_convert_fn(fn, (h, w, c)), expect_ops=OPS)
    assert read_tflite(tfl).ops[0].attrs["half_pixel_centers"] is True


def test_batch_of_two():
    tfl = _resize_model((3, 5, 2), [(7, 4), (6, 10)], "half_pixel", batch=2)
    assert_bit_exact(None, model_bytes=tfl, expect_ops=OPS)


@pytest.mark.parametrize("out_scale,out_zp", [(0.5, 0), (0.01, -60)])
def test_output_quantization_is_not_applied(out_scale, out_zp):
    """Neither reference requantizes: with output parameters unlike the input's (edited in; the
    converter never emits that) the int8 bytes are still copied, and so do we."""
    from tensorflow.lite.tools import flatbuffer_utils as fu

    inp = keras.Input((4, 6, 3), batch_size=1)
    base = int8_tflite(keras.Model(inp, keras.layers.Resizing(7, 5, interpolation="nearest")(inp)))
    m = fu.convert_bytearray_to_object(bytearray(base))
    sg = m.subgraphs[0]
    (op,) = sg.operators
    q = sg.tensors[op.outputs[0]].quantization
    q.scale, q.zeroPoint = [out_scale], [out_zp]
    tfl = bytes(fu.convert_object_to_bytearray(m))
    g = read_tflite(tfl)
    assert g.tensor(g.ops[0].outputs[0]).quant != g.tensor(g.ops[0].inputs[0]).quant
    assert_bit_exact(None, model_bytes=tfl, expect_ops=OPS)


def test_index_tables_are_float32():
    """Pure-Python check of the tables against values worked out by hand in float32."""
    # 14 -> 23, half pixel: (11 + 0.5) * float32(14/23) = 6.9999995f -> 6 (exact arithmetic: 7)
    assert nearest_indices(14, 23, False, True)[11] == 6
    # 26 -> 22: 11 * float32(26/22) = 12.999999f -> 12 (exact arithmetic: 13)
    assert nearest_indices(26, 22, False, False)[11] == 12
    # align corners rounds half away from zero: 4 -> 7 gives 0, 1 (0.5 -> 1), 1, 2 (1.5 -> 2), ...
    assert nearest_indices(4, 7, True, False).tolist() == [0, 1, 1, 2, 2, 3, 3]
    # align corners with a single output row falls back to scale in/out (then rounds): row 0
    assert nearest_indices(5, 1, True, False).tolist() == [0]
    assert nearest_indices(3, 6, False, True).tolist() == [0, 0, 1, 1, 2, 2]



@pytest.mark.parametrize("align,half", [(False, False), (False, True), (True, False), (True, True)])
def test_index_tables_match_litert_exhaustively(align, half):
    """Every in -> out pair with in <= 48, out <= 96: our table against LiteRT's own float kernel
    (same GetNearestNeighbor) on an iota row, through a model whose size is a runtime input.
    (align, half) = (True, True) is edited into the flatbuffer: TensorFlow refuses to build it."""
    from ai_edge_litert import interpreter as litert
    from tensorflow.lite.tools import flatbuffer_utils as fu

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 1], tf.float32),
                                  tf.TensorSpec([2], tf.int32)])
    def fn(x, size):
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=align and not half,
                                                half_pixel_centers=half)

    tfl = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()]).convert()
    m = fu.convert_bytearray_to_object(bytearray(tfl))
    (op,) = m.subgraphs[0].operators
    op.builtinOptions.alignCorners, op.builtinOptions.halfPixelCenters = align, half
    interp = litert.Interpreter(model_content=bytes(fu.convert_object_to_bytearray(m)),
                                experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
    bad = []
    for i in range(1, 49):
        interp.resize_tensor_input(0, [1, 1, i, 1])
        interp.allocate_tensors()
        x_in, size_in = (d["index"] for d in interp.get_input_details())
        for o in range(1, 97):
            interp.set_tensor(x_in, np.arange(i, dtype=np.float32).reshape(1, 1, i, 1))
            interp.set_tensor(size_in, np.array([1, o], np.int32))
            interp.invoke()
            got = interp.get_tensor(interp.get_output_details()[0]["index"]).reshape(-1)
            if got.astype(np.int64).tolist() != nearest_indices(i, o, align, half).tolist():
                bad.append((i, o))
    assert not bad, f"index tables differ from LiteRT for (in, out) = {bad[:10]}"

@settings(max_examples=6, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 5),
       sizes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), min_size=1, max_size=4, unique=True),
       mode=st.sampled_from(list(MODES)))
def test_random_sizes(h, w, c, sizes, mode):
    assert_bit_exact(None, model_bytes=_resize_model((h, w, c), sizes, mode), expect_ops=OPS, n=4)


def test_unsupported_configurations_are_reported():
    from edgeq.ir import Graph, Op, Quant, Tensor
    from edgeq.passes.lower import unsupported_ops

    q = Quant((0.1,), (0,))
    x = Tensor(0, "x", (1, 4, 4, 2), "int8", q)
    y = Tensor(2, "y", (1, 8, 8, 2), "int8", q)
    size_dyn = Tensor(1, "size", (2,), "int32")  # computed at run time
    size_const = Tensor(1, "size", (2,), "int32", data=np.array([8, 8], np.int32))
    x16 = Tensor(0, "x", (1, 4, 4, 2), "int16", q)
    y16 = Tensor(2, "y", (1, 8, 8, 2), "int16", q)
    op = Op(0, "RESIZE_NEAREST_NEIGHBOR", (0, 1), (2,), {"align_corners": False, "half_pixel_centers": True})
    for tensors, why in (((x, size_dyn, y), "not constant"), ((x16, size_const, y16), "int16")):
        bad = unsupported_ops(Graph(tensors, (op,), (0,), (2,)))
        assert len(bad) == 1 and why in bad[0][2], bad
    assert unsupported_ops(Graph((x, size_const, y), (op,), (0,), (2,))) == []


# --- RESIZE_BILINEAR ------------------------------------------------------------------------------
# LiteRT's int8 ResizeBilinearInteger works in 1/1024 of a pixel with its own rounded scale, truncating
# C divisions, negative weights at the first row/column when upsampling with half pixels, and rounds
# acc / 2^20 half away from zero. Sizes: up and down, non-integer ratios, 1-pixel inputs and outputs.

BILINEAR = {"RESIZE_BILINEAR"}


def _bilinear_model(in_shape, sizes, mode, batch=1) -> bytes:
    align, half = MODES[mode]

    def fn(x):
        return [tf.raw_ops.ResizeBilinear(images=x, size=list(s), align_corners=align,
                                          half_pixel_centers=half) for s in sizes]

    tfl = _convert_fn(fn, in_shape, batch)
    ops = [op for op in read_tflite(tfl).ops if op.kind == "RESIZE_BILINEAR"]
    assert len(ops) == len(sizes) and all(
        (op.attrs["align_corners"], op.attrs["half_pixel_centers"]) == (align, half) for op in ops)
    return tfl


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("in_shape,sizes", [
    ((14, 26, 2), [(23, 22), (28, 52), (7, 13), (1, 1)]),
    ((2, 3, 3), [(41, 47), (4, 6), (6, 9), (5, 7), (1, 3), (2, 3)]),
    ((5, 8, 7), [(10, 24), (3, 5), (9, 1), (13, 17), (4, 8)]),
    ((1, 1, 4), [(1, 1), (3, 2), (1, 5)]),
    ((3, 7, 16), [(9, 21), (7, 3)]),
])
def test_bilinear_sizes(in_shape, sizes, mode):
    assert_bit_exact(None, model_bytes=_bilinear_model(in_shape, sizes, mode), expect_ops=BILINEAR, n=6)


@pytest.mark.parametrize("size", [2, (2, 3), 4])
def test_keras_upsampling2d_bilinear(size):
    """keras.layers.UpSampling2D(interpolation="bilinear"): RESIZE_BILINEAR with half pixel centers."""
    inp = keras.Input((5, 6, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.UpSampling2D(size, interpolation="bilinear")(inp))
    tfl = assert_bit_exact(m, expect_ops=BILINEAR)
    op = read_tflite(tfl).ops[0]
    assert (op.attrs["align_corners"], op.attrs["half_pixel_centers"]) == (False, True)


@pytest.mark.parametrize("h,w,crop", [(7, 11, False), (3, 2, False), (9, 4, True)])
def test_keras_resizing_bilinear(h, w, crop):
    inp = keras.Input((6, 13, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.Resizing(h, w, interpolation="bilinear", crop_to_aspect_ratio=crop)(inp))
    assert_bit_exact(m, expect_ops=BILINEAR)


def test_bilinear_batch_of_two():
    assert_bit_exact(None, model_bytes=_bilinear_model((3, 5, 2), [(7, 4), (6, 10)], "half_pixel", batch=2),
                     expect_ops=BILINEAR)


@settings(max_examples=6, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 5),
       sizes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), min_size=1, max_size=4, unique=True),
       mode=st.sampled_from(list(MODES)))
def test_bilinear_random_sizes(h, w, c, sizes, mode):
    assert_bit_exact(None, model_bytes=_bilinear_model((h, w, c), sizes, mode), expect_ops=BILINEAR, n=4)


def test_bilinear_tables():
    """Pure-Python check of the tables against values worked out by hand from the integer formulas."""
    from edgeq.passes.lower.int8.resize import bilinear_tables

    # 2 -> 4, half pixel: scale_10 = 512, v = 512 i - 256: -256, 256, 768, 1280
    lo, hi, frac = bilinear_tables(2, 4, False, True)
    assert lo.tolist() == [0, 0, 0, 1] and hi.tolist() == [0, 1, 1, 1] and frac.tolist() == [-256, 256, 768, 256]
    # 3 -> 4, align corners: scale_10 = (2048 + 1) // 3 = 683; the last row lands 1/1024 past row 2
    lo, hi, frac = bilinear_tables(3, 4, True, False)
    assert lo.tolist() == [0, 0, 1, 2] and hi.tolist() == [0, 1, 2, 2] and frac.tolist() == [0, 683, 342, 1]
    # 5 -> 2 legacy: scale_10 = (5120 + 1) // 2 = 2560: rows 0 and 2.5
    lo, hi, frac = bilinear_tables(5, 2, False, False)
    assert lo.tolist() == [0, 2] and hi.tolist() == [0, 3] and frac.tolist() == [0, 512]


def test_bilinear_unsupported_configurations_are_reported():
    """Both flags (TFLite rejects it), and a size where LiteRT's rounded 1/1024 scale reads past the
    input (legacy mode, 1 -> 55 rows: row 54 lands at 1026/1024)."""
    from edgeq.ir import Graph, Op, Quant, Tensor
    from edgeq.passes.lower import unsupported_ops

    q = Quant((0.1,), (0,))
    x = Tensor(0, "x", (1, 4, 1, 2), "int8", q)

    def bad(out_h, align, half):
        size = Tensor(1, "size", (2,), "int32", data=np.array([out_h, 3], np.int32))
        y = Tensor(2, "y", (1, out_h, 3, 2), "int8", q)
        op = Op(0, "RESIZE_BILINEAR", (0, 1), (2,), {"align_corners": align, "half_pixel_centers": half})
        return unsupported_ops(Graph((x, size, y), (op,), (0,), (2,)))

    assert bad(8, False, True) == [] and bad(8, True, False) == [] and bad(8, False, False) == []
    assert "half_pixel_centers" in bad(8, True, True)[0][2]
    x = Tensor(0, "x", (1, 1, 4, 2), "int8", q)
    assert "past the input" in bad(55, False, False)[0][2] and bad(54, False, False) == []


# int16x8 (LiteRT's ResizeBilinearInteger on int16; TFLM has no int16 RESIZE_BILINEAR) and float32 (the float
# reference; LiteRT and TFLM, within the float tolerance)

def _bilinear_fn(sizes, mode):
    align, half = MODES[mode]
    return lambda x: [tf.raw_ops.ResizeBilinear(images=x, size=list(s), align_corners=align,
                                                half_pixel_centers=half) for s in sizes]


@pytest.mark.parametrize("dtype", ("int16", "float32"))
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("in_shape,sizes", [
    ((14, 26, 2), [(23, 22), (7, 13), (1, 1)]),
    ((2, 3, 3), [(41, 47), (4, 6), (5, 7), (1, 3)]),
    ((5, 8, 7), [(10, 24), (3, 5), (9, 1)]),
])
def test_bilinear_int16_float32(dtype, mode, in_shape, sizes):
    from test_strided_copy import _tfl

    tfl = _tfl(dtype, _bilinear_fn(sizes, mode), (1, *in_shape))
    kinds = [op.kind for op in read_tflite(tfl).ops]
    assert kinds.count("RESIZE_BILINEAR") == len(sizes), kinds
    if dtype == "int16":
        assert_bit_exact16(model_bytes=tfl, expect_ops=BILINEAR, roundings=("litert",), n=6)
    else:
        assert_bit_exact(None, model_bytes=tfl, expect_ops=BILINEAR, n=6)
