"""TRANSPOSE, TILE and SLICE (firmware/kernels/*strided_copy.c) bit-exact with LiteRT (and TFLM where it
has the op), in int8, int16 (16x8) and float32.

All three copy elements in the references, so these tests are about indexing: permutations of every rank
up to 6, tiles with multiples of 1 and more, slices with size -1 and empty results, and the Keras layers
that convert to them (Permute -> TRANSPOSE; UpSampling2D and RepeatVector -> RESHAPE + TILE).
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph, Op, Tensor
from edgeq.passes.lower.int8.strided_copy import collapse_axes, lower_strided_copy
from edgeq.passes.lower.registry import LowerCtx, Unsupported
from harness import assert_bit_exact, int8_tflite, tf_function_tflite
from harness_int16 import assert_bit_exact16, tf_function_int16x8


def _calib(shape, n=16, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal((1, *shape)).astype(np.float32)] for _ in range(n)]


def _tfl(dtype: str, fn, shape) -> bytes:
    """One tf.function over one input of ``shape`` (batch included) as an int8, int16x8 or float32 model."""
    import tensorflow as tf

    f = tf.function(fn, input_signature=[tf.TensorSpec(shape, tf.float32)])
    calib = _calib(shape[1:])
    if dtype == "int8":
        return tf_function_tflite(f, calib)
    if dtype == "int16":
        return tf_function_int16x8(f, calib)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    return conv.convert()


def _check(dtype: str, tfl: bytes, kind: str, tflm: bool = True) -> None:
    roundings = ("litert", "tflm") if tflm else ("litert",)
    if dtype == "int16":
        assert_bit_exact16(model_bytes=tfl, expect_ops={kind}, roundings=roundings)
    else:
        assert_bit_exact(None, model_bytes=tfl, expect_ops={kind}, roundings=roundings)
    assert read_tflite(tfl).tensor(read_tflite(tfl).inputs[0]).dtype in (dtype, "float32")


DTYPES = ("int8", "int16", "float32")

# --- TRANSPOSE ------------------------------------------------------------------------------------

PERMS = [
    ((1, 4, 5, 3), (0, 2, 1, 3)),
    ((1, 4, 5, 3), (0, 3, 1, 2)),
    ((1, 4, 5, 3), (0, 2, 3, 1)),
    ((2, 3, 4, 5), (3, 2, 1, 0)),
    ((6, 7), (1, 0)),
    ((1, 2, 3, 4, 5), (0, 4, 2, 1, 3)),
    ((2, 2, 3, 2, 3, 2), (5, 3, 1, 4, 2, 0)),  # rank 6: LiteRT's limit
    ((1, 8, 2, 16), (0, 2, 1, 3)),  # attention: [batch, seq, heads, dim] -> [batch, heads, seq, dim]
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,perm", PERMS, ids=[f"{s}-{p}" for s, p in PERMS])
def test_transpose(dtype, shape, perm):
    import tensorflow as tf

    tfl = _tfl(dtype, lambda x: tf.transpose(x, perm), shape)
    # TFLM's TRANSPOSE takes at most 5 dimensions
    _check(dtype, tfl, "TRANSPOSE", tflm=len(shape) <= 5)


@pytest.mark.parametrize("perm", [(2, 1, 3), (3, 1, 2), (1, 3, 2)])
def test_keras_permute(perm):
    inp = keras.Input((4, 5, 3), batch_size=1)
    assert_bit_exact(keras.Model(inp, keras.layers.Permute(perm)(inp)), expect_ops={"TRANSPOSE"})


# --- TILE ---------------------------------------------------------------------------------------
# LiteRT 2.3's BUILTIN_REF resolver registers TILE versions 1-2 only (an int8 TILE is version 3); its BUILTIN
# resolver registers the same Register_TILE() for versions 1-3 (kernels/tile.cc has one implementation).
# edgeq.quality.references.LiteRT loads such a model as version 2 (REF_SAME_KERNEL); edgeq compiles the
# unchanged model.

def assert_tile_model_exact(tfl: bytes, inputs=None, n: int = 12) -> None:
    """Generated C of ``tfl`` == LiteRT's reference kernels (TILE loaded as version 2), bytes."""
    from edgeq.quality.compare import ByteCompare
    from edgeq.quality.references import LiteRT

    from harness import compile_host, random_inputs

    kinds = {op.kind for op in read_tflite(tfl).ops}
    assert "TILE" in kinds, f"converted model has ops {sorted(kinds)}, not TILE"
    _, host = compile_host(tfl, "litert")
    ref = LiteRT(tfl)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(inputs if inputs is not None else random_inputs(tfl, n)):
        cmp.add(i, host.run(x), ref.run(x))
    assert cmp.bit_exact, f"{cmp.mismatched_bytes} of {cmp.total_bytes} bytes differ from LiteRT"


TILES = [
    ((1, 4, 1, 4, 3), (1, 1, 2, 1, 1)),  # UpSampling2D's first step
    ((1, 3, 5), (1, 2, 3)),
    ((2, 3), (3, 1)),
    ((1, 1, 6), (1, 4, 1)),  # RepeatVector
    ((1, 2, 3, 2), (2, 1, 2, 3)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,mult", TILES, ids=[f"{s}-{m}" for s, m in TILES])
def test_tile(dtype, shape, mult):
    import tensorflow as tf

    assert_tile_model_exact(_tfl(dtype, lambda x: tf.tile(x, mult), shape))  # (TFLM has no TILE kernel)


@pytest.mark.parametrize("size,interp", [(2, "nearest"), ((3, 2), "nearest"), ((1, 4), "nearest")])
def test_keras_upsampling2d(size, interp):
    inp = keras.Input((5, 4, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.UpSampling2D(size, interpolation=interp)(inp))
    assert_tile_model_exact(int8_tflite(m))


@pytest.mark.parametrize("n,width", [(3, 6), (2, 4), (8, 1)])
def test_keras_repeat_vector(n, width):
    inp = keras.Input((width,), batch_size=1)
    m = keras.Model(inp, keras.layers.RepeatVector(n)(inp))
    assert_tile_model_exact(int8_tflite(m))


# --- SLICE ----------------------------------------------------------------------------------------

SLICES = [
    ((1, 6, 6, 3), (0, 1, 2, 0), (1, 3, -1, 3)),
    ((1, 8, 3), (0, 2, 1), (1, 5, 2)),
    ((4, 7), (1, 0), (2, -1)),
    ((2, 3, 4, 5, 6), (1, 1, 1, 1, 1), (1, 2, 3, 4, 5)),
    ((1, 5, 4), (0, 4, 0), (1, 1, 4)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,begin,size", SLICES, ids=[f"{s}-{b}-{z}" for s, b, z in SLICES])
def test_slice(dtype, shape, begin, size):
    import tensorflow as tf

    tfl = _tfl(dtype, lambda x: tf.slice(x, begin, size), shape)
    _check(dtype, tfl, "SLICE")


def test_strided_slice_int16():
    """Cropping2D converts to STRIDED_SLICE; in a 16x8 model it runs on the int16 strided copy."""
    inp = keras.Input((6, 7, 3), batch_size=1)
    m = keras.Model(inp, keras.layers.Cropping2D(((1, 2), (2, 1)))(inp))
    assert_bit_exact16(m, expect_ops={"STRIDED_SLICE"})


# --- the geometry ---------------------------------------------------------------------------------

def _reference_copy(x: np.ndarray, offset: int, axes) -> np.ndarray:
    flat = x.reshape(-1)
    counts = [n for n, _ in axes]
    out = np.empty(counts, x.dtype)
    for idx in itertools.product(*(range(n) for n in counts)):
        out[idx] = flat[offset + sum(i * s for i, (_, s) in zip(idx, axes))]
    return out.reshape(-1)


@pytest.mark.parametrize("axes", [
    [(2, 12), (3, 4), (4, 1)],          # contiguous: one row
    [(2, 0), (3, 1), (2, 0), (4, 3)],   # repeats
    [(1, 7), (5, 2), (1, 1), (3, 10)],  # single-element axes
    [(3, 1), (4, 3)],                   # transposed
])
def test_collapse_axes_reads_the_same_elements(axes):
    x = np.arange(200)
    assert np.array_equal(_reference_copy(x, 3, collapse_axes(axes)), _reference_copy(x, 3, axes))


def _graph(kind, shape, const, out_shape) -> tuple[Graph, Op]:
    ts = (Tensor(0, "x", shape, "int8", None, None),
          Tensor(1, "c", (len(const),), "int32", None, np.array(const, np.int32)),
          Tensor(2, "y", out_shape, "int8", None, None))
    op = Op(0, kind, (0, 1), (2,), {})
    return Graph(ts, (op,), (0,), (2,)), op


@pytest.mark.parametrize("kind,shape,const,out", [
    ("TRANSPOSE", (2, 3), (0, 0), (2, 2)),        # not a permutation
    ("TRANSPOSE", (2, 3), (1, 0), (2, 3)),        # output shape disagrees
    ("TILE", (2, 3), (1, -1), (2, 3)),            # negative multiple
    ("TILE", (2, 3), (2,), (4, 3)),               # multiples of another rank
    ("TILE", (2, 3, 2, 3, 2, 3, 2), (2, 1, 2, 1, 2, 1, 2), (4, 3, 4, 3, 4, 3, 4)),  # 7 axes left
])
def test_unsupported_configurations_say_why(kind, shape, const, out):
    g, op = _graph(kind, shape, const, out)
    with pytest.raises(Unsupported):
        lower_strided_copy(g, op, LowerCtx())


def test_reference_names_an_op_its_resolver_lacks():
    """An op version LiteRT's reference resolver has no kernel for is named, not blamed on the file."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    from edgeq.errors import EdgeqError
    from edgeq.quality.references import LiteRT

    inp = keras.Input((4, 4, 2), batch_size=1)
    tfl = int8_tflite(keras.Model(inp, keras.layers.Permute((2, 1, 3))(inp)))
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tfl, 0))
    for c in m.operatorCodes:
        if max(c.builtinCode, c.deprecatedBuiltinCode) == schema.BuiltinOperator.TRANSPOSE:
            c.version = 99
    b = flatbuffers.Builder(len(tfl) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(EdgeqError) as e:
        LiteRT(bytes(b.Output()))
    assert "reference kernels have no TRANSPOSE (version 99)" in e.value.what
    assert "valid TFLite model" in e.value.detail[0]
