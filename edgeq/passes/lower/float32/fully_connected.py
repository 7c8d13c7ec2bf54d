"""FULLY_CONNECTED on float32 tensors (firmware/kernels/float32_fully_connected.c), as
reference_ops::FullyConnected: float weights and bias emitted as they are, or weight-only int8 weights with
their per-channel scales (float32/common.py: weight_fields)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need, tensor_array
from edgeq.passes.lower.float32.common import expect_f32, float_act_range, float_bias, weight_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("FULLY_CONNECTED", dtypes=("float32",))
def lower_fully_connected_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    need(len(w.shape) == 2, f"weights shape {w.shape} is not [out, in]")
    out_d, in_d = w.shape
    need(in_d > 0 and x.numel % in_d == 0, f"input of {x.numel} values is not a multiple of depth {in_d}")
    batches = x.numel // in_d
    need(y.numel == batches * out_d, f"output has {y.numel} values, expected {batches} x {out_d}")
    lo, hi = float_act_range(op)
    bias = float_bias(g, op, 2, out_d)
    weights, int8_weights = weight_fields(g, op, w, out_d, axis=0)
    return Lowered(
        kernel="edgeq_fully_connected_f32",
        struct="edgeq_fully_connected_f32_params",
        source="float32_fully_connected",
        fields=(
            ("batches", batches), ("in_depth", in_d), ("out_depth", out_d),
            ("act_min", lo), ("act_max", hi),
            weights,
            ("bias", tensor_array(g, bias.id) if bias is not None else None),
            *int8_weights,
        ),
        args=(x.id, y.id),
    )
