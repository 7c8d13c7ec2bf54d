"""SPLIT, SPLIT_V, UNPACK (one input, several outputs) and PACK, int8 and float32, against LiteRT and TFLM.

These are the data movement of unrolled recurrent layers (UNPACK cuts the sequence into steps, SPLIT
cuts each step's gate pre-activations, PACK stacks the outputs). Each model mixes them with a few other
ops so that outputs are consumed in another order than they are produced (a kernel that wrote output i
to the wrong buffer, or took the wrong slice, changes bytes)."""

from __future__ import annotations

import numpy as np
import pytest

from harness import compile_host, random_inputs, tf_function_tflite

from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import ByteCompare
from edgeq.quality.references import TFLM, LiteRT


def _functions():
    """name -> (tf.function, input shape, op kinds it must convert to)."""
    import tensorflow as tf

    def f(shape):
        return tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)])

    @f((1, 6, 8))
    def split_middle(x):  # SPLIT on a middle axis (outer 1, inner 8), outputs recombined out of order
        a, b, c = tf.split(x, 3, axis=1)
        return tf.concat([c, tf.nn.relu(a), b], axis=2)

    @f((1, 4, 12))
    def split_last(x):  # SPLIT on the last axis (outer 4): the GRU gate split
        z, r, h = tf.split(x, 3, axis=-1)
        return tf.nn.relu(z) * h + r  # single IEEE operations (float32 stays exact)

    @f((1, 3, 10))
    def split_v(x):  # SPLIT_V with uneven sizes, one of them inferred (-1)
        a, b, c = tf.split(x, [2, -1, 1], axis=2)
        return tf.concat([b, c, a], axis=2)

    @f((1, 5, 3))
    def unpack_pack(x):  # UNPACK the steps, PACK them back reversed on another axis
        steps = tf.unstack(x, axis=1)
        return tf.stack([tf.nn.relu(s) for s in steps[::-1]], axis=2)

    @f((1, 4, 6))
    def split_outputs(x):  # a SPLIT whose outputs are the model's outputs
        a, b = tf.split(x * 2.0, 2, axis=2)
        return a, b

    return {
        "split_middle": (split_middle, (1, 6, 8), {"SPLIT"}),
        "split_last": (split_last, (1, 4, 12), {"SPLIT"}),
        "split_v": (split_v, (1, 3, 10), {"SPLIT_V"}),
        "unpack_pack": (unpack_pack, (1, 5, 3), {"UNPACK", "PACK"}),
        "split_outputs": (split_outputs, (1, 4, 6), {"SPLIT"}),
    }


NAMES = ["split_middle", "split_last", "split_v", "unpack_pack", "split_outputs"]


def _convert(name: str, dtype: str) -> bytes:
    import tensorflow as tf

    fn, shape, kinds = _functions()[name]
    if dtype == "int8":
        rng = np.random.default_rng(0)
        tfl = tf_function_tflite(fn, [[rng.standard_normal(shape).astype(np.float32)] for _ in range(16)])
    else:
        tfl = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()
    got = {op.kind for op in read_tflite(tfl).ops}
    assert kinds <= got, f"{name} converted to {sorted(got)}"
    return tfl


def _float_inputs(tfl: bytes, n: int) -> list[list[np.ndarray]]:
    g = read_tflite(tfl)
    rng = np.random.default_rng(3)
    return [[(rng.standard_normal(g.tensor(t).shape) * 4).astype(np.float32) for t in g.inputs] for _ in range(n)]


@pytest.mark.parametrize("rounding", ["litert", "tflm"])
@pytest.mark.parametrize("dtype", ["int8", "float32"])
@pytest.mark.parametrize("name", NAMES)
def test_split_unpack_pack_bit_exact(name, dtype, rounding):
    tfl = _convert(name, dtype)
    _, host = compile_host(tfl, rounding)
    ref = LiteRT(tfl) if rounding == "litert" else TFLM(tfl)
    inputs = random_inputs(tfl, 12) if dtype == "int8" else _float_inputs(tfl, 12)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(inputs):
        cmp.add(i, host.run(x), ref.run(x))
    # int8: pure copies around requantizing ops; float32: copies and single IEEE operations
    assert cmp.bit_exact, (name, dtype, rounding, cmp.mismatched_bytes, cmp.total_bytes)
