"""MIRROR_PAD (firmware/kernels/*mirror_pad.c, one body for every element size) bit-exact with LiteRT, in
int8, int16x8 and float32, and with TFLM in int8 and float32 (TFLM has no int16 MIRROR_PAD).

LiteRT's reference copies elements, so these tests are about indexing: REFLECT and SYMMETRIC, paddings up
to the largest TensorFlow allows (n - 1 reflected, n symmetric), asymmetric, on one dimension or several,
ranks 1 to 5, and an unpadded innermost dimension (whole rows copied) or a padded one.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from edgeq.ir import Graph, Op, Tensor
from edgeq.passes.lower.int8.mirror_pad import mirror_fields, mirror_indices
from edgeq.passes.lower.registry import Unsupported
from harness import assert_bit_exact
from test_strided_copy import _check, _tfl

# (input shape, paddings)
PADS = [
    ((1, 5, 6, 3), [[0, 0], [1, 1], [2, 2], [0, 0]]),
    ((1, 5, 6, 3), [[0, 0], [4, 0], [0, 5], [0, 0]]),   # the largest reflections (n - 1)
    ((1, 4, 4, 3), [[0, 0], [1, 2], [3, 0], [1, 2]]),   # the innermost dimension padded too
    ((2, 3, 5), [[1, 1], [0, 2], [2, 1]]),
    ((7,), [[3, 2]]),
    ((2, 3, 2, 3, 4), [[0, 1], [1, 1], [1, 0], [2, 2], [0, 0]]),
    ((1, 9, 2), [[0, 0], [8, 8], [0, 0]]),
]


@pytest.mark.parametrize("dtype", ("int8", "int16", "float32"))
@pytest.mark.parametrize("mode", ("REFLECT", "SYMMETRIC"))
@pytest.mark.parametrize("shape,pads", PADS, ids=[f"{s}-{p}" for s, p in PADS])
def test_mirror_pad(dtype, mode, shape, pads):
    import tensorflow as tf

    # TFLM's MIRROR_PAD takes int8 and float32 only
    _check(dtype, _tfl(dtype, lambda x: tf.pad(x, pads, mode=mode), shape), "MIRROR_PAD", tflm=dtype != "int16")


@pytest.mark.parametrize("mode", ("SYMMETRIC",))
def test_symmetric_pads_as_large_as_the_extent(mode):
    import tensorflow as tf

    _check("int8", _tfl("int8", lambda x: tf.pad(x, [[0, 0], [3, 3], [0, 2], [0, 0]], mode=mode), (1, 3, 2, 4)),
           "MIRROR_PAD")


@pytest.mark.parametrize("mode", ("reflect", "symmetric"))
def test_keras_ops_pad(mode):
    inp = keras.Input((5, 6, 3), batch_size=1)
    m = keras.Model(inp, keras.ops.pad(inp, [[0, 0], [1, 2], [2, 1], [0, 0]], mode=mode))
    assert_bit_exact(m, expect_ops={"MIRROR_PAD"})


def test_index_tables():
    assert mirror_indices(4, 2, 3, symmetric=False).tolist() == [2, 1, 0, 1, 2, 3, 2, 1, 0]
    assert mirror_indices(4, 2, 3, symmetric=True).tolist() == [1, 0, 0, 1, 2, 3, 3, 2, 1]
    assert mirror_indices(1, 1, 1, symmetric=True).tolist() == [0, 0, 0]


@pytest.mark.parametrize("n,pads,mode,why", [
    (3, [3, 0], 0, "reach past"),    # REFLECT takes at most n - 1
    (1, [1, 0], 0, "reach past"),
    (3, [-1, 0], 0, "negative"),
    (3, [0, 0], 2, "mode 2"),
])
def test_bad_configurations_are_unsupported(n, pads, mode, why):
    ts = (Tensor(0, "x", (1, n), "int8", None, None),
          Tensor(1, "p", (2, 2), "int32", None, np.array([[0, 0], pads], np.int32)),
          Tensor(2, "y", (1, n + sum(pads)), "int8", None, None))
    op = Op(0, "MIRROR_PAD", (0, 1), (2,), {"mode": mode})
    with pytest.raises(Unsupported, match=why):
        mirror_fields(Graph(ts, (op,), (0,), (2,)), op)
