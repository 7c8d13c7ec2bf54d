"""ARG_MAX and ARG_MIN on int8 (firmware/kernels/arg_min_max.c).

LiteRT's reference_ops::ArgMinMax walks the axis with std::greater / std::less from element 0, so the
first of equal extremes wins; it compares the raw int8 values (the quantization is monotonic, nothing is
requantized). The axis is a one-element int32/int64 constant (negative: + rank), the output the input
shape without the axis, int32 or int64 as the op's output_type says (TensorFlow's default is int64).
The geometry is shared with float32/arg_min_max.py through :func:`arg_fields`.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering


def _prod(xs) -> int:
    return int(np.prod(xs, dtype=np.int64)) if len(xs) else 1


def arg_fields(g: Graph, op: Op) -> tuple:
    """The params fields of the arg min/max kernels (any input element type)."""
    need(len(op.inputs) == 2, f"{op.kind} needs an axis input")
    x, a, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_dtype(y, "int32", "int64")
    need(a.is_const and a.dtype in ("int32", "int64") and a.numel == 1, "axis is not a constant int32/int64 scalar")
    rank = len(x.shape)
    axis = int(np.asarray(a.data).reshape(-1)[0])
    axis = axis + rank if axis < 0 else axis
    need(0 <= axis < rank, f"axis {axis} out of range for rank {rank}")
    need(x.shape[axis] >= 1, "the axis is empty")
    out_shape = (*x.shape[:axis], *x.shape[axis + 1:])
    need(out_shape == tuple(y.shape), f"reduced shape {out_shape} is not the output's {y.shape}")
    return (
        ("outer", _prod(x.shape[:axis])),
        ("axis_size", int(x.shape[axis])),
        ("inner", _prod(x.shape[axis + 1:])),
        ("is_min", int(op.kind == "ARG_MIN")),
        ("wide_output", int(y.dtype == "int64")),
    )


@lowering("ARG_MAX", "ARG_MIN", dtypes=("int8->int32", "int8->int64"))
def lower_arg_min_max(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    expect_dtype(g.tensor(op.inputs[0]), "int8")
    return Lowered(kernel="edgeq_arg_min_max_s8", struct="edgeq_arg_min_max_params", source="arg_min_max",
                   fields=arg_fields(g, op), args=(op.inputs[0], op.outputs[0]))
