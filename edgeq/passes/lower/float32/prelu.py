"""PRELU, float32 (firmware/kernels/float32_prelu.c): in >= 0 ? in : in * alpha with alpha broadcast, one IEEE
multiply per negative element as the reference kernel, so exact."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.elementwise import broadcast_loops
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("PRELU", dtypes=("float32",))
def lower_prelu_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"PRELU with {len(op.inputs)} inputs")
    x, alpha, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, alpha, y)
    need(tuple(y.shape) == tuple(x.shape), f"output shape {y.shape} is not the input's {x.shape}")
    shape, st_x, st_a = broadcast_loops(x.shape, alpha.shape, y.shape)
    return Lowered(
        kernel="edgeq_prelu_f32", struct="edgeq_prelu_f32_params", source="float32_prelu",
        fields=(
            ("ndim", len(shape)),
            ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
            ("stride1", arr(op, "stride1", np.array(st_x, np.int32), "int32_t")),
            ("stride2", arr(op, "stride2", np.array(st_a, np.int32), "int32_t")),
        ),
        args=(x.id, alpha.id, y.id),
        inplace=True,  # out[i] is written after in[i] and alpha[i] are read
    )
