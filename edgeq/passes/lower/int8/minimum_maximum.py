"""MINIMUM and MAXIMUM with numpy broadcasting (firmware/kernels/minimum_maximum.c), int8 and int32.

LiteRT's maximum_minimum.cc (and TFLM's) compare the stored values, ``el1 > el2 ? el1 : el2`` for MAXIMUM and
``el1 < el2 ? el1 : el2`` for MINIMUM, through MaximumMinimumBroadcast4DSlow; Prepare checks only that the
types agree, never the quantization (the converter gives both inputs and the output one scale and zero
point: Keras ``Maximum`` / ``Minimum``, ``ReLU(max_value=...)`` as RELU, MINIMUM with a constant, RELU). So
the kernel compares stored values for every element type, as they do, and the lowering only describes the
broadcast (:func:`minimum_maximum_call`, shared by the int16 and float32 lowerings).
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.int8.elementwise import broadcast_loops
from edgeq.passes.lower.registry import LowerCtx, lowering


def bcast_fields(op: Op, s1, s2, so) -> tuple:
    """``ndim``, ``shape``, ``stride1``, ``stride2`` of a broadcasting binary kernel (edgeq_bcast_iter)."""
    shape, st1, st2 = broadcast_loops(s1, s2, so)
    return (
        ("ndim", len(shape)),
        ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
        ("stride1", arr(op, "stride1", np.array(st1, np.int32), "int32_t")),
        ("stride2", arr(op, "stride2", np.array(st2, np.int32), "int32_t")),
    )


def minimum_maximum_call(g: Graph, op: Op, dtype: str, kernel: str, source: str) -> Lowered:
    """The kernel call of MINIMUM / MAXIMUM on ``dtype`` tensors (the struct is ``<kernel>_params``)."""
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (x1, x2, y):
        expect_dtype(t, dtype)
    return Lowered(kernel=kernel, struct=f"{kernel}_params", source=source,
                   fields=bcast_fields(op, x1.shape, x2.shape, y.shape) + (("is_max", int(op.kind == "MAXIMUM")),),
                   args=(x1.id, x2.id, y.id))


@lowering("MINIMUM", "MAXIMUM", dtypes=("int8", "int32"))
def lower_minimum_maximum(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    d = g.tensor(op.outputs[0]).dtype
    kernel = "edgeq_minimum_maximum_s8" if d == "int8" else "edgeq_minimum_maximum_i32"
    return minimum_maximum_call(g, op, d, kernel, "minimum_maximum")
