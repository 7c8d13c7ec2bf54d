"""TRANSPOSE, TILE, SLICE, DEPTH_TO_SPACE, SPACE_TO_DEPTH and REVERSE_V2 on int8 as one strided n-D copy
(firmware/kernels/strided_copy.c).

LiteRT's reference kernels copy elements for all of them (reference_ops::Transpose, Tile, Slice,
DepthToSpace, SpaceToDepth, Reverse): no requantization, whatever the input and output quantization say
(the converter gives them the same), so the C kernel copies raw elements and these tests are about indexing.
Every index is resolved here: output element (i0, .., i5) reads input element ``offset + sum_d i_d * step[d]``:

* TRANSPOSE: output axis d walks input axis perm[d], step = that axis's input stride (LiteRT takes ranks
  up to 6 and a permutation of 0..rank-1);
* TILE: output axis d splits into (multiple, input extent) with steps (0, input stride): the repeats read
  the same elements again (multiples >= 0, int32 or int64);
* SLICE: begin and size per axis (size -1: to the end), offset = sum begin * stride, steps the strides
  (LiteRT checks 0 <= begin and begin + size <= extent);
* DEPTH_TO_SPACE / SPACE_TO_DEPTH: a 6-axis transpose of the input split into blocks (block_size b);
* REVERSE_V2: a reversed axis starts at its last element with a negative step.

:func:`collapse_axes` then drops single-element axes and merges an axis into the one inside it when the
reads stay evenly spaced, so most copies end up with a few axes and a contiguous innermost row.
The geometry is in elements: the int16 and float32 lowerings (int16/strided_copy.py,
float32/strided_copy.py) reuse it with their kernels.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering

MAX_DIMS = 6  # EDGEQ_COPY_MAX_DIMS in firmware/kernels/strided_copy.h


def strides(shape) -> list[int]:
    """Element strides of a row-major tensor of ``shape``."""
    out, s = [], 1
    for n in reversed(shape):
        out.insert(0, s)
        s *= int(n)
    return out


def collapse_axes(axes) -> list[tuple[int, int]]:
    """(count, step) per output axis, outermost first, merged: axes of one element vanish, and an axis
    whose step is the inner axis's count times its step joins it. An empty output is one axis of 0."""
    if any(n == 0 for n, _ in axes):
        return [(0, 1)]
    out: list[tuple[int, int]] = []
    for n, step in reversed(list(axes)):
        if n == 1:
            continue
        if out and step == out[0][0] * out[0][1]:
            out[0] = (n * out[0][0], out[0][1])
        else:
            out.insert(0, (n, step))
    return out


def copy_fields(op: Op, offset: int, axes) -> tuple:
    """The params fields of the strided copy kernels for reads ``offset + sum i_d * step_d``."""
    axes = collapse_axes(axes)
    need(len(axes) <= MAX_DIMS, f"{len(axes)} axes that cannot be merged (the kernel takes {MAX_DIMS})")
    axes = [(1, 0)] * (MAX_DIMS - len(axes)) + axes
    return (
        ("offset", int(offset)),
        ("count", arr(op, "count", np.array([n for n, _ in axes], np.int32), "int32_t")),
        ("step", arr(op, "step", np.array([s for _, s in axes], np.int32), "int32_t")),
    )


def const_ints(g: Graph, tid: int, what: str) -> np.ndarray:
    t = g.tensor(tid)
    need(t.is_const, f"{what} is not constant (edgeq resolves it at generation time)")
    need(t.dtype in ("int32", "int64"), f"{what} is {t.dtype}, not int32/int64")
    return np.asarray(t.data, dtype=np.int64).reshape(-1)


def transpose_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A TRANSPOSE's (offset, [(count, step)]) per output axis."""
    need(len(op.inputs) == 2, "TRANSPOSE needs a permutation input")
    perm = [int(p) for p in const_ints(g, op.inputs[1], "perm")]
    rank = len(x.shape)
    need(rank <= 6, f"rank {rank} (LiteRT's TRANSPOSE takes at most 6)")
    need(sorted(perm) == list(range(rank)), f"perm {perm} is not a permutation of 0..{rank - 1}")
    out_shape = tuple(x.shape[p] for p in perm)
    need(out_shape == tuple(y.shape), f"permuted shape {out_shape} is not the output's {y.shape}")
    st = strides(x.shape)
    return 0, [(x.shape[p], st[p]) for p in perm]


def tile_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A TILE's (offset, [(count, step)]): each axis as (multiple, step 0) outside (extent, stride)."""
    need(len(op.inputs) == 2, "TILE needs a multiples input")
    mult = [int(m) for m in const_ints(g, op.inputs[1], "multiples")]
    need(len(mult) == len(x.shape), f"{len(mult)} multiples for rank {len(x.shape)}")
    need(all(m >= 0 for m in mult), f"negative multiples {mult}")
    out_shape = tuple(n * m for n, m in zip(x.shape, mult))
    need(out_shape == tuple(y.shape), f"tiled shape {out_shape} is not the output's {y.shape}")
    axes: list[tuple[int, int]] = []
    for n, m, s in zip(x.shape, mult, strides(x.shape)):
        axes += [(m, 0), (n, s)]
    return 0, axes


def slice_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A SLICE's (offset, [(count, step)])."""
    need(len(op.inputs) == 3, "SLICE needs begin and size inputs")
    begin = [int(b) for b in const_ints(g, op.inputs[1], "begin")]
    size = [int(s) for s in const_ints(g, op.inputs[2], "size")]
    rank = len(x.shape)
    need(len(begin) == len(size) == rank, f"begin/size of length {len(begin)}/{len(size)} for rank {rank}")
    size = [n - b if s == -1 else s for n, b, s in zip(x.shape, begin, size)]
    need(all(0 <= b and 0 <= s and b + s <= n for n, b, s in zip(x.shape, begin, size)),
         f"slice begin {begin} size {size} outside the input {x.shape}")
    need(tuple(size) == tuple(y.shape), f"slice size {tuple(size)} is not the output's {y.shape}")
    st = strides(x.shape)
    return sum(b * s for b, s in zip(begin, st)), list(zip(size, st))


def _block_size(op: Op, x: Tensor) -> int:
    b = int(op.attrs.get("block_size", 0))
    need(b >= 1, f"block_size {b}")
    need(len(x.shape) == 4, f"input is {len(x.shape)}-D, not 4-D")
    return b


def depth_to_space_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A DEPTH_TO_SPACE's reads (reference_ops::DepthToSpace): input channel (i * b + j) * C' + c of
    pixel (h, w) goes to output pixel (h * b + i, w * b + j), channel c. The output axes (N, H, i, W, j, C')
    walk the input viewed as [N, H, W, b, b, C']."""
    b = _block_size(op, x)
    n, h, w, c = x.shape
    need(c % (b * b) == 0, f"depth {c} is not a multiple of block_size^2 = {b * b}")
    co = c // (b * b)
    need(tuple(y.shape) == (n, h * b, w * b, co), f"output {y.shape} is not {(n, h * b, w * b, co)}")
    return 0, [(n, h * w * c), (h, w * c), (b, b * co), (w, c), (b, co), (co, 1)]


def space_to_depth_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A SPACE_TO_DEPTH's reads (reference_ops::SpaceToDepth), DEPTH_TO_SPACE's inverse: output pixel
    (h, w), channel (i * b + j) * C + c, is input pixel (h * b + i, w * b + j), channel c."""
    b = _block_size(op, x)
    n, h, w, c = x.shape
    need(h % b == 0 and w % b == 0, f"{h}x{w} is not a multiple of block_size {b}")
    need(tuple(y.shape) == (n, h // b, w // b, c * b * b), f"output {y.shape} is not {(n, h // b, w // b, c * b * b)}")
    return 0, [(n, h * w * c), (h // b, b * w * c), (w // b, b * c), (b, w * c), (b, c), (c, 1)]


def reverse_reads(g: Graph, op: Op, x: Tensor, y: Tensor) -> tuple[int, list[tuple[int, int]]]:
    """A REVERSE_V2's reads (reference_ops::Reverse): each listed axis (negative: from the end) walks
    backwards from its last element. LiteRT takes one axis or several contiguous ones."""
    need(len(op.inputs) == 2, "REVERSE_V2 needs an axis input")
    rank = len(x.shape)
    axes = {int(a) + rank if int(a) < 0 else int(a) for a in const_ints(g, op.inputs[1], "axis")}
    need(all(0 <= a < rank for a in axes), f"axis outside rank {rank}")
    need(not axes or max(axes) - min(axes) == len(axes) - 1,
         f"axes {sorted(axes)} are not contiguous (LiteRT's REVERSE_V2 refuses them)")
    need(tuple(y.shape) == tuple(x.shape), f"output {y.shape} is not the input's {x.shape}")
    st = strides(x.shape)
    offset = sum((x.shape[a] - 1) * st[a] for a in axes)
    return offset, [(x.shape[d], -st[d] if d in axes else st[d]) for d in range(rank)]


READS = {"TRANSPOSE": transpose_reads, "TILE": tile_reads, "SLICE": slice_reads,
         "DEPTH_TO_SPACE": depth_to_space_reads, "SPACE_TO_DEPTH": space_to_depth_reads, "REVERSE_V2": reverse_reads}


def copy_params(g: Graph, op: Op) -> tuple:
    """The strided copy fields of an op in READS (any element type)."""
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(x.dtype == y.dtype, f"input is {x.dtype}, output {y.dtype}")
    offset, axes = READS[op.kind](g, op, x, y)
    return copy_fields(op, offset, axes)


@lowering("TRANSPOSE", "TILE", "SLICE", "DEPTH_TO_SPACE", "SPACE_TO_DEPTH", "REVERSE_V2")
def lower_strided_copy(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    return Lowered(
        kernel="edgeq_strided_copy_s8",
        struct="edgeq_strided_copy_params",
        source="strided_copy",
        fields=copy_params(g, op),
        args=(x.id, y.id),
    )
