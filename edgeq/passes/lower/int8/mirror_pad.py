"""MIRROR_PAD, int8 (firmware/kernels/mirror_pad.c): a copy with per-dimension index tables computed here.

LiteRT's reference kernel (kernels/mirror_pad.cc, run by BUILTIN_REF and the builtin resolver alike) copies
elements, no requantization. For each dimension, output index i reads input index (offset = 1 for REFLECT,
0 for SYMMETRIC; left / right the paddings, n the input extent):

    i <  left:       left + offset - 1 - min(i, left - 1)
    i >= left + n:   n - 1 - offset - min(i - left - n, n - 1 - offset)
    otherwise:       i - left

:func:`mirror_indices` gives that table; the lowering multiplies it by the input strides. The paddings
(constant, int32 or int64, shape [rank, 2]) must keep every index inside the input (TensorFlow allows
left, right <= n - offset); others are refused. The int16 and float32 lowerings reuse :func:`mirror_fields`.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.int8.strided_copy import const_ints, strides
from edgeq.passes.lower.registry import LowerCtx, lowering

MAX_DIMS = 5  # EDGEQ_MIRROR_PAD_DIMS in firmware/kernels/mirror_pad.h
MODES = {0: "REFLECT", 1: "SYMMETRIC"}


def mirror_indices(n: int, left: int, right: int, symmetric: bool) -> np.ndarray:
    """The input index each of the n + left + right output positions reads (LiteRT's formula)."""
    offset = 0 if symmetric else 1
    out = []
    for i in range(left + n + right):
        if i < left:
            out.append(left + offset - 1 - min(i, left - 1))
        elif i >= left + n:
            out.append(n - 1 - offset - min(i - left - n, n - 1 - offset))
        else:
            out.append(i - left)
    return np.array(out, np.int64)


def mirror_fields(g: Graph, op: Op) -> tuple:
    """The params fields of the MIRROR_PAD kernels (any element type)."""
    need(len(op.inputs) == 2, f"MIRROR_PAD with {len(op.inputs)} inputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(x.dtype == y.dtype, f"input is {x.dtype}, output {y.dtype}")
    mode = int(op.attrs.get("mode", 0))
    need(mode in MODES, f"mode {mode}")
    rank = len(x.shape)
    need(1 <= rank <= MAX_DIMS, f"rank {rank} (the kernel takes 1 to {MAX_DIMS})")
    pads = const_ints(g, op.inputs[1], "paddings")
    need(pads.size == 2 * rank, f"{pads.size} paddings for rank {rank}")
    pads = pads.reshape(rank, 2)
    need(bool((pads >= 0).all()), f"negative paddings {pads.tolist()}")
    out_shape = tuple(int(n + a + b) for n, (a, b) in zip(x.shape, pads))
    need(out_shape == tuple(y.shape), f"padded shape {out_shape} is not the output's {y.shape}")
    tables = []
    for n, (a, b), s in zip(x.shape, pads, strides(x.shape)):
        idx = mirror_indices(int(n), int(a), int(b), symmetric=mode == 1)
        need(idx.size == 0 or (idx.min() >= 0 and idx.max() < n),
             f"paddings {int(a)}, {int(b)} reach past an extent of {n} in {MODES[mode]} mode")
        tables.append(idx * s)
    lead = MAX_DIMS - rank
    tables = [np.zeros(1, np.int64)] * lead + tables
    shape = [1] * lead + list(out_shape)
    start = np.cumsum([0] + [t.size for t in tables[:-1]])
    inner_copy = int(pads[-1].tolist() == [0, 0])
    return (
        ("inner_copy", inner_copy),
        ("out_shape", arr(op, "out_shape", np.array(shape, np.int32), "int32_t")),
        ("start", arr(op, "start", start.astype(np.int32), "int32_t")),
        ("index", arr(op, "index", np.concatenate(tables).astype(np.int32), "int32_t")),
    )


@lowering("MIRROR_PAD")
def lower_mirror_pad(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    return Lowered(kernel="edgeq_mirror_pad_s8", struct="edgeq_mirror_pad_params", source="mirror_pad",
                   fields=mirror_fields(g, op), args=(x.id, y.id))
