"""DEPTH_TO_SPACE, SPACE_TO_DEPTH and REVERSE_V2: the strided copy (firmware/kernels/*strided_copy.c, one
body for every element size) bit-exact with LiteRT, and with TFLM where it has the op, in int8, float32
and (REVERSE_V2) int16x8.

All three copy elements in LiteRT's references (reference_ops::DepthToSpace, SpaceToDepth, Reverse), so
these tests are about indexing: block sizes 2 to 4, batches, depths per block of 1 and more; reversals of
every axis, of several (contiguous: LiteRT refuses others) axes at once and with negative axis numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.ir import Graph, Op, Tensor
from edgeq.passes.lower.int8.strided_copy import copy_params
from edgeq.passes.lower.registry import Unsupported
from test_strided_copy import _check, _tfl

# (input shape, block size)
D2S = [((1, 2, 3, 4), 2), ((1, 3, 2, 18), 3), ((2, 2, 2, 8), 2), ((1, 1, 1, 16), 4), ((1, 5, 3, 12), 2)]
S2D = [((1, 4, 6, 1), 2), ((1, 6, 9, 2), 3), ((2, 4, 4, 3), 2), ((1, 8, 4, 5), 4), ((1, 10, 6, 7), 2)]


@pytest.mark.parametrize("dtype", ("int8", "float32"))
@pytest.mark.parametrize("shape,block", D2S, ids=[f"{s}-{b}" for s, b in D2S])
def test_depth_to_space(dtype, shape, block):
    import tensorflow as tf

    _check(dtype, _tfl(dtype, lambda x: tf.nn.depth_to_space(x, block), shape), "DEPTH_TO_SPACE")


@pytest.mark.parametrize("dtype", ("int8", "float32"))
@pytest.mark.parametrize("shape,block", S2D, ids=[f"{s}-{b}" for s, b in S2D])
def test_space_to_depth(dtype, shape, block):
    import tensorflow as tf

    _check(dtype, _tfl(dtype, lambda x: tf.nn.space_to_depth(x, block), shape), "SPACE_TO_DEPTH")


# (input shape, axes)
REVERSES = [((1, 7, 3), [1]), ((1, 4, 5, 3), [2]), ((1, 4, 5, 3), [3]), ((1, 4, 5, 3), [-1]),
            ((2, 3, 4), [0]), ((9,), [0]), ((1, 4, 5, 3), [1, 2]), ((2, 3, 4, 5, 2), [2, 3, 4]), ((2, 3, 4, 5), [-2, 1])]


@pytest.mark.parametrize("dtype", ("int8", "int16", "float32"))
@pytest.mark.parametrize("shape,axes", REVERSES, ids=[f"{s}-{a}" for s, a in REVERSES])
def test_reverse(dtype, shape, axes):
    import tensorflow as tf

    _check(dtype, _tfl(dtype, lambda x: tf.reverse(x, axes), shape), "REVERSE_V2")


def _graph(kind, shape, out_shape, **attrs) -> tuple[Graph, Op]:
    ts = (Tensor(0, "x", shape, "int8", None, None), Tensor(1, "y", out_shape, "int8", None, None))
    op = Op(0, kind, (0,), (1,), attrs)
    return Graph(ts, (op,), (0,), (1,)), op


@pytest.mark.parametrize("kind,shape,out,block,why", [
    ("DEPTH_TO_SPACE", (1, 2, 2, 6), (1, 4, 4, 1), 2, "multiple of block_size"),
    ("DEPTH_TO_SPACE", (1, 2, 2, 8), (1, 4, 4, 1), 2, "output"),
    ("SPACE_TO_DEPTH", (1, 5, 4, 1), (1, 2, 2, 4), 2, "multiple of block_size"),
    ("SPACE_TO_DEPTH", (1, 4, 4), (1, 2, 2, 4), 2, "4-D"),
    ("SPACE_TO_DEPTH", (1, 4, 4, 1), (1, 4, 4, 1), 0, "block_size 0"),
])
def test_bad_configurations_are_unsupported(kind, shape, out, block, why):
    g, op = _graph(kind, shape, out, block_size=block)
    with pytest.raises(Unsupported, match=why):
        copy_params(g, op)


def test_space_to_depth_inverts_depth_to_space():
    """Pure-Python check of the geometry: the two read lists compose to the identity."""
    from test_strided_copy import _reference_copy
    from edgeq.passes.lower.int8.strided_copy import depth_to_space_reads, space_to_depth_reads

    x = np.arange(2 * 4 * 6 * 3)
    g1, op1 = _graph("SPACE_TO_DEPTH", (2, 4, 6, 3), (2, 2, 3, 12), block_size=2)
    g2, op2 = _graph("DEPTH_TO_SPACE", (2, 2, 3, 12), (2, 4, 6, 3), block_size=2)
    off, axes = space_to_depth_reads(g1, op1, g1.tensor(0), g1.tensor(1))
    y = _reference_copy(x, off, axes)
    off, axes = depth_to_space_reads(g2, op2, g2.tensor(0), g2.tensor(1))
    assert np.array_equal(_reference_copy(y, off, axes), x)
    assert not np.array_equal(y, x)


def test_non_contiguous_reverse_axes_are_unsupported():
    ts = (Tensor(0, "x", (2, 3, 4), "int8", None, None),
          Tensor(1, "axis", (2,), "int32", None, np.array([0, 2], np.int32)),
          Tensor(2, "y", (2, 3, 4), "int8", None, None))
    op = Op(0, "REVERSE_V2", (0, 1), (2,), {})
    with pytest.raises(Unsupported, match="not contiguous"):
        copy_params(Graph(ts, (op,), (0,), (2,)), op)
