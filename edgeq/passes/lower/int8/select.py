"""SELECT and SELECT_V2 with int8 values (firmware/kernels/select.c): out = cond ? x : y, copied as stored.

LiteRT's select.cc copies values without requantizing (Prepare checks only the types) and broadcasts:
SELECT_V2 all three operands by numpy rules (BroadcastSelect5DSlow); SELECT (version one) takes operands of
one shape, or a scalar condition, or a rank-1 condition whose length is x's first dimension, one condition
value per slice of x (RankOneSelect). Every case is one walk of the output with a stride per operand
(:func:`select_call`, shared by the int16 and float32 lowerings); the rank-1 condition is that walk with the
condition as shape [n, 1, ..., 1]. The int32 SELECT of index arithmetic is index_ops.py's.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering

MAX_DIMS = 8  # EDGEQ_SELECT_MAX_DIMS in select.h


def broadcast_walk(shapes, out) -> tuple[list[int], list[list[int]]]:
    """The output ``out`` walked row-major as collapsed dimensions, with one element-stride list per operand
    of ``shapes`` (right-aligned numpy broadcasting; stride 0 where an operand is broadcast). Size-1 output
    dimensions are dropped and adjacent dimensions merged where every operand steps through them alike."""
    out = tuple(int(d) for d in out)
    r = len(out)
    padded = []
    for s in shapes:
        s = tuple(int(d) for d in s)
        need(len(s) <= r, f"operand shape {s} does not broadcast to {out}")
        s = (1,) * (r - len(s)) + s
        need(all(a in (1, o) for a, o in zip(s, out)), f"operand shape {s} does not broadcast to {out}")
        padded.append(s)
    need(all(o == max([1, *(s[d] for s in padded)]) for d, o in enumerate(out)),
         f"operand shapes {list(shapes)} do not broadcast to {out}")

    def strides(shape):
        st, acc = [0] * r, 1
        for d in reversed(range(r)):
            st[d] = acc if shape[d] != 1 else 0
            acc *= shape[d]
        return st

    per = [strides(s) for s in padded]
    dims: list[list[int]] = []  # [extent, stride per operand...]
    for d in range(r):
        if out[d] == 1:
            continue
        n, st = out[d], [p[d] for p in per]
        if dims and all(dims[-1][1 + k] == st[k] * n for k in range(len(st))):
            dims[-1] = [dims[-1][0] * n, *st]
        else:
            dims.append([n, *st])
    if not dims:
        dims = [[1] + [0] * len(shapes)]
    need(len(dims) <= MAX_DIMS, f"the broadcast needs {len(dims)} loop dimensions (the kernel handles {MAX_DIMS})")
    return [d[0] for d in dims], [[d[1 + k] for d in dims] for k in range(len(shapes))]


def select_call(g: Graph, op: Op, dtype: str, kernel: str, source: str) -> Lowered:
    """The kernel call of SELECT / SELECT_V2 with ``dtype`` values (the struct is ``<kernel>_params``)."""
    need(len(op.inputs) == 3 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    c, x, y, o = (g.tensor(t) for t in (*op.inputs, op.outputs[0]))
    expect_dtype(c, "bool")
    for t in (x, y, o):
        expect_dtype(t, dtype)
    cshape = tuple(c.shape)
    if op.kind == "SELECT" and not (cshape == tuple(x.shape) == tuple(y.shape)):
        need(tuple(x.shape) == tuple(y.shape), f"SELECT of shapes {x.shape} and {y.shape}")
        need(len(cshape) == 0 or (len(cshape) == 1 and len(x.shape) >= 1 and cshape[0] == x.shape[0]),
             f"SELECT condition of shape {cshape} for values of shape {x.shape} (a scalar or one value per "
             "first-dimension slice)")
        if len(cshape) == 1:
            cshape = cshape + (1,) * (len(x.shape) - 1)
    shape, (sc, sx, sy) = broadcast_walk([cshape, x.shape, y.shape], o.shape)
    return Lowered(
        kernel=kernel, struct=f"{kernel}_params", source=source,
        fields=(("ndim", len(shape)),
                ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
                ("stride_c", arr(op, "stride_c", np.array(sc, np.int32), "int32_t")),
                ("stride_x", arr(op, "stride_x", np.array(sx, np.int32), "int32_t")),
                ("stride_y", arr(op, "stride_y", np.array(sy, np.int32), "int32_t"))),
        args=(c.id, x.id, y.id, o.id))


@lowering("SELECT", "SELECT_V2", dtypes=("bool->int8",))
def lower_select_s8(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return select_call(g, op, "int8", "edgeq_select_s8", "select")
