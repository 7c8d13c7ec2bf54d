"""GATHER on int8 (firmware/kernels/gather.c): params taken at runtime indices along one axis.

LiteRT's reference_ops::Gather copies the params' elements (no requantization; the converter gives the
output the params' quantization); Prepare normalizes a negative axis (+ params rank) and batch_dims
(+ indices rank), demands batch_dims <= axis and equal leading batch_dims dimensions, and the output shape
is params[:axis] + indices[batch_dims:] + params[axis + 1:]. Indices are int32 or int64; an index outside
[0, axis extent) makes LiteRT's Invoke fail, and the kernel writes the real value 0 there instead.

A Keras Embedding converts to a GATHER of its constant int8 table at the model's int32 token input (so
the op's signature is "int32->int8"; a GATHER of a computed tensor has signature "int8"). The geometry is
in elements: the int16 and float32 lowerings reuse :func:`gather_fields`.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64)) if len(xs) else 1


def gather_fields(g: Graph, op: Op, fill: int) -> tuple:
    """The params fields of the gather kernels (any element type) with ``fill`` for indices out of range."""
    need(len(op.inputs) == 2, "GATHER needs params and indices")
    x, idx, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    need(x.dtype == y.dtype, f"params are {x.dtype}, output {y.dtype}")
    expect_dtype(idx, "int32", "int64")
    rank = len(x.shape)
    axis = int(op.attrs.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    batch_dims = int(op.attrs.get("batch_dims", 0))
    batch_dims = batch_dims + len(idx.shape) if batch_dims < 0 else batch_dims
    need(0 <= axis < rank, f"axis {op.attrs.get('axis')} out of range for rank {rank}")
    need(0 <= batch_dims <= min(axis, len(idx.shape)), f"batch_dims {op.attrs.get('batch_dims')} for axis {axis}")
    need(tuple(x.shape[:batch_dims]) == tuple(idx.shape[:batch_dims]),
         "params and indices differ in their batch dimensions")
    out_shape = (*x.shape[:axis], *idx.shape[batch_dims:], *x.shape[axis + 1:])
    need(out_shape == tuple(y.shape), f"gathered shape {out_shape} is not the output's {y.shape}")
    return (
        ("batches", _prod(x.shape[:batch_dims])),
        ("outer", _prod(x.shape[batch_dims:axis])),
        ("axis_size", int(x.shape[axis])),
        ("inner", _prod(x.shape[axis + 1:])),
        ("coords", _prod(idx.shape[batch_dims:])),
        ("wide_indices", int(idx.dtype == "int64")),
        ("fill", int(fill)),
    )


def gather_lowered(g: Graph, op: Op, kernel: str, struct: str, source: str, fill: int) -> Lowered:
    return Lowered(kernel=kernel, struct=struct, source=source, fields=gather_fields(g, op, fill),
                   args=(op.inputs[0], op.inputs[1], op.outputs[0]))


@lowering("GATHER", dtypes=("int8", "int32->int8", "int64->int8"))
def lower_gather(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    y: Tensor = g.tensor(op.outputs[0])
    expect_dtype(g.tensor(op.inputs[0]), "int8")
    expect_dtype(y, "int8")
    fill = y.quant.zero_point[0] if y.quant is not None else 0
    return gather_lowered(g, op, "edgeq_gather_s8", "edgeq_gather_params", "gather", fill)
