"""GATHER (firmware/kernels/*gather.c) and the int32 index ops around it (index_ops.c), bit-exact with
LiteRT and TFLM, in int8, int16 (16x8) and float32.

Two shapes of GATHER reach edgeq: a computed tensor gathered at constant indices (signature "int8"), and a
constant table gathered at the model's int32 input (Keras Embedding: signature "int32->int8", after the
LESS / ADD / SELECT that wrap negative token ids). The second needs an integer model input: the converter
keeps it int32 and unquantized, and edgeq's model then takes int32 token ids.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.passes.lower.int8.gather import gather_fields
from edgeq.passes.lower.registry import Unsupported
from harness import assert_bit_exact, compare, tf_function_tflite
from harness_int16 import assert_bit_exact16, tf_function_int16x8


def int_input_tflite(model, calib: list[np.ndarray]) -> bytes:
    """edgeq's int8 quantizer on a Keras model whose inputs keep their own dtypes (int32 token ids)."""
    from edgeq.frontend.convert import quantize
    from edgeq.frontend.data import Samples
    from edgeq.frontend.load import LoadedModel

    loaded = LoadedModel(Path(f"{model.name}.keras"), "keras", model, None, None,
                         [tuple(i.shape[1:]) for i in model.inputs], [np.dtype(i.dtype) for i in model.inputs],
                         [i.name for i in model.inputs])
    return quantize(loaded, Samples("test", calib))


def token_ids(shape, vocab: int, n: int, seed: int = 1) -> list[list[np.ndarray]]:
    """Samples of int32 ids in [-vocab, vocab): negative ones count from the end (Keras' take)."""
    rng = np.random.default_rng(seed)
    return [[rng.integers(-vocab, vocab, shape).astype(np.int32)] for _ in range(n)]


def assert_exact_on(tfl: bytes, inputs, roundings=("litert", "tflm")) -> None:
    for r in roundings:
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, f"[{r}] {cmp.mismatched_bytes} of {cmp.total_bytes} bytes differ; {cmp.first_bad_op}"


# --- a computed tensor at constant indices ---------------------------------------------------------

CASES = [  # (input shape with batch, indices, axis, batch_dims)
    ((1, 10, 4), [3, 0, 9, 3], 1, 0),
    ((1, 5, 6), [[1, 2], [5, 0]], 2, 0),
    ((1, 4, 3, 2), [2, 1, 0], -2, 0),
    ((1, 7), [6, 6, 0, 1, 2], 1, 0),
    ((2, 6, 3), [[5, 1], [0, 0]], 1, 1),  # batch_dims 1: one row of indices per batch
]


def _gather_fn(indices, axis, batch_dims):
    import tensorflow as tf

    idx = tf.constant(np.array(indices, np.int32))
    return lambda x: tf.gather(x, idx, axis=axis, batch_dims=batch_dims)


@pytest.mark.parametrize("dtype", ("int8", "int16", "float32"))
@pytest.mark.parametrize("shape,indices,axis,batch_dims", CASES, ids=[str(c[0]) + str(c[2]) for c in CASES])
def test_gather_at_constant_indices(dtype, shape, indices, axis, batch_dims):
    import tensorflow as tf

    f = tf.function(_gather_fn(indices, axis, batch_dims), input_signature=[tf.TensorSpec(shape, tf.float32)])
    rng = np.random.default_rng(0)
    calib = [[rng.standard_normal(shape).astype(np.float32)] for _ in range(16)]
    if dtype == "int8":
        assert_bit_exact(None, model_bytes=tf_function_tflite(f, calib), expect_ops={"GATHER"})
    elif dtype == "int16":
        # TFLM has no int16 GATHER (it fails to allocate the model)
        assert_bit_exact16(model_bytes=tf_function_int16x8(f, calib), expect_ops={"GATHER"}, roundings=("litert",))
    else:
        conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
        assert_bit_exact(None, model_bytes=conv.convert(), expect_ops={"GATHER"})


# --- a constant table at runtime indices (Embedding) ----------------------------------------------
# TFLM fails to allocate these models (LESS / ADD / SELECT on int32 ids), so they are compared with LiteRT only; the
# GATHER itself is compared with TFLM above.
TABLE_ROUNDINGS = ("litert",)


@pytest.mark.parametrize("vocab,dim,length", [(20, 4, 8), (100, 16, 5), (3, 7, 12), (256, 8, 1)])
def test_embedding(vocab, dim, length):
    keras.utils.set_random_seed(vocab)
    ids = keras.Input((length,), batch_size=1, dtype="int32")
    m = keras.Model(ids, keras.layers.Embedding(vocab, dim)(ids))
    tfl = int_input_tflite(m, [np.random.default_rng(0).integers(0, vocab, (16, length)).astype(np.int32)])
    g = read_tflite(tfl)
    assert {"GATHER", "SELECT"} <= {op.kind for op in g.ops} or {"GATHER", "SELECT_V2"} <= {op.kind for op in g.ops}
    assert g.tensor(g.inputs[0]).dtype == "int32" and g.tensor(g.inputs[0]).quant is None
    assert_exact_on(tfl, token_ids((1, length), vocab, 20), TABLE_ROUNDINGS)


def test_embedding_every_id():
    """Every id of the table once, and each negative one."""
    keras.utils.set_random_seed(0)
    vocab = 50
    ids = keras.Input((2 * vocab,), batch_size=1, dtype="int32")
    m = keras.Model(ids, keras.layers.Embedding(vocab, 3)(ids))
    tfl = int_input_tflite(m, [np.tile(np.arange(vocab, dtype=np.int32), (4, 2))])
    assert_exact_on(tfl, [[np.arange(-vocab, vocab, dtype=np.int32).reshape(1, -1)]], TABLE_ROUNDINGS)


def test_gather_refuses_mismatched_batch_dims():
    from edgeq.ir import Graph, Op, Tensor

    ts = (Tensor(0, "p", (2, 5, 3), "int8", None, None), Tensor(1, "i", (3, 2), "int32", None, None),
          Tensor(2, "y", (2, 3, 2, 3), "int8", None, None))
    op = Op(0, "GATHER", (0, 1), (2,), {"axis": 1, "batch_dims": 1})
    with pytest.raises(Unsupported, match="batch"):
        gather_fields(Graph(ts, (op,), (0, 1), (2,)), op, 0)
