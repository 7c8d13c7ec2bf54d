"""float32 LOGISTIC, TANH and SOFTMAX (firmware/kernels/float32_softmax.c): edgeq's own exponential
and tanh (the firmware links no libm), within the stated tolerance of the float reference kernels
(edgeq.quality.compare.FLOAT_RTOL)."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need
from edgeq.passes.lower.float32.common import unary_io
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("LOGISTIC", "TANH", dtypes=("float32",))
def lower_sigmoid_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    return Lowered(kernel="edgeq_logistic_f32" if op.kind == "LOGISTIC" else "edgeq_tanh_f32",
                   struct="edgeq_unary_f32_params", source="float32_softmax", fields=(("size", y.numel),),
                   args=(x.id, y.id), inplace=True)


@lowering("SOFTMAX", dtypes=("float32",))
def lower_softmax_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    need(len(x.shape) >= 1 and x.shape[-1] > 0, f"softmax input shape {x.shape}")
    depth = int(x.shape[-1])
    return Lowered(kernel="edgeq_softmax_f32", struct="edgeq_softmax_f32_params", source="float32_softmax",
                   fields=(("outer", x.numel // depth), ("depth", depth),
                           ("beta", float(np.float32(op.attrs.get("beta", 1.0))))),
                   args=(x.id, y.id))
