"""SPLIT, SPLIT_V and UNPACK on int8 (firmware/kernels/split.c): one input, several outputs, bytes copied.

LiteRT's reference kernels (split.cc, split_v.cc, unpack.cc) copy the input's bytes into the outputs
without requantizing; the converter gives every output the input's scale and zero point, and the kernel
copies whatever it is given, as the reference does. All three are the inverse of CONCATENATION: along
the axis, output i takes the next extent_i slices, so with the input viewed as [outer][sum of sizes]
(``outer`` the product of the dimensions before the axis, ``sizes[i]`` output i's extent along the axis
times the product of the dimensions after it) the kernel copies ``sizes[i]`` elements per outer slice
into output i. UNPACK's outputs are its extent-1 slices with the axis removed (same bytes).

Unrolled Keras recurrent layers (``GRU``, ``SimpleRNN``, ``LSTM`` with ``unroll=True``) produce these:
UNPACK splits the sequence into its steps and SPLIT cuts each step's gate pre-activations.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64)) if len(xs) else 1


def _axis(g: Graph, tid: int, rank: int) -> int:
    t = g.tensor(tid)
    need(t.is_const and t.numel == 1 and t.dtype in ("int32", "int64"), "the split axis is not a constant integer")
    return int(np.asarray(t.data).reshape(-1)[0])


def split_layout(g: Graph, op: Op) -> tuple[Tensor, list[Tensor], int, list[int]]:
    """A SPLIT / SPLIT_V / UNPACK's data input, outputs and (outer count, elements each output takes per
    outer slice), with the shapes checked; any element type."""
    if op.kind == "SPLIT":  # inputs: axis, input
        need(len(op.inputs) == 2, f"SPLIT with {len(op.inputs)} inputs")
        x = g.tensor(op.inputs[1])
        axis = _axis(g, op.inputs[0], len(x.shape))
    elif op.kind == "SPLIT_V":  # inputs: input, size_splits, axis
        need(len(op.inputs) == 3, f"SPLIT_V with {len(op.inputs)} inputs")
        x = g.tensor(op.inputs[0])
        axis = _axis(g, op.inputs[2], len(x.shape))
    else:  # UNPACK: input; the axis is an option
        x = g.tensor(op.inputs[0])
        axis = int(op.attrs.get("axis", 0))
    outs = [g.tensor(t) for t in op.outputs]
    rank = len(x.shape)
    axis = axis + rank if axis < 0 else axis
    need(0 <= axis < rank, f"axis {axis} out of range for an input of rank {rank}")
    need(len(outs) >= 1, "no outputs")
    inner = _prod(x.shape[axis + 1:])
    if op.kind == "UNPACK":
        want = tuple(x.shape[:axis] + x.shape[axis + 1:])
        need(len(outs) == x.shape[axis], f"{len(outs)} outputs for an axis of extent {x.shape[axis]}")
        need(all(tuple(t.shape) == want for t in outs), f"outputs are not of shape {list(want)}")
        extents = [1] * len(outs)
    else:
        for t in outs:
            need(len(t.shape) == rank and all(t.shape[d] == x.shape[d] for d in range(rank) if d != axis),
                 f"output '{t.name}' shape {list(t.shape)} does not match input {list(x.shape)} off the axis")
        extents = [t.shape[axis] for t in outs]
        need(sum(extents) == x.shape[axis], f"output extents {extents} do not add up to {x.shape[axis]}")
        if op.kind == "SPLIT_V" and g.tensor(op.inputs[1]).is_const:
            given = [int(v) for v in np.asarray(g.tensor(op.inputs[1]).data).reshape(-1)]
            need(len(given) == len(outs) and all(v in (e, -1) for v, e in zip(given, extents)),
                 f"size_splits {given} do not match the output extents {extents}")
    return x, outs, _prod(x.shape[:axis]), [e * inner for e in extents]


def split_lowered(g: Graph, op: Op, check: Callable[..., object], kind: str, source: str) -> Lowered:
    """The call of a SPLIT / SPLIT_V / UNPACK copy kernel ``edgeq_split_<kind>`` (firmware/kernels/<source>.c)
    for any element type: :func:`split_layout`, the element type checked by ``check(x, *outputs)``."""
    x, outs, outer, sizes = split_layout(g, op)
    check(x, *outs)
    return Lowered(
        kernel=f"edgeq_split_{kind}",
        struct=f"edgeq_split_{kind}_params",
        source=source,
        fields=(
            ("outer", outer), ("num_outputs", len(outs)),
            ("sizes", arr(op, "sizes", np.array(sizes, np.int32), "int32_t")),
        ),
        args=(x.id, tuple(t.id for t in outs)),
    )


def _expect_s8(*ts: Tensor) -> None:
    for t in ts:
        expect_dtype(t, "int8")


@lowering("SPLIT", "SPLIT_V", "UNPACK")
def lower_split(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return split_lowered(g, op, _expect_s8, "s8", "split")
