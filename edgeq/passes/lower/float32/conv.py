"""CONV_2D and DEPTHWISE_CONV_2D on float32 tensors (firmware/kernels/float32_conv.c),
as reference_ops::Conv / DepthwiseConv: geometry and
padding as the int8 lowerings (edgeq.passes.lower.int8.conv), float weights and bias emitted as they are, or
weight-only int8 weights with their per-channel scales (float32/common.py: weight_fields)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import tensor_array
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.geometry import conv_layout, depthwise_layout, raster_overlap_margin, window_fields
from edgeq.passes.lower.float32.common import expect_f32, float_act_range, float_bias, weight_fields


def _window_op_f32(g: Graph, op: Op, ctx: LowerCtx, depthwise: bool) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    if depthwise:
        geo, in_c, out_c, dm = depthwise_layout(op, ctx, x, w, y)
        kind, extra = "depthwise_conv", ("depth_mult", dm)
    else:
        geo, in_c, out_c, fin = conv_layout(op, x, w, y)
        kind, extra = "conv", ("filter_in_c", fin)
    lo, hi = float_act_range(op)
    bias = float_bias(g, op, 2, out_c)
    weights, int8_weights = weight_fields(g, op, w, out_c, axis=3 if depthwise else 0)
    # weight-only CONV_2D: edgeq_conv_f32_s8w, row by row, one filter dequantized at a time into scratch
    s8w = w.dtype == "int8" and not depthwise
    return Lowered(
        kernel=f"edgeq_{kind}_f32" + ("_s8w" if s8w else ""),
        struct=f"edgeq_{kind}_f32_params",
        source="float32_conv",
        fields=(
            *window_fields(geo, in_c, out_c, extra),
            ("act_min", lo), ("act_max", hi),
            weights,
            ("bias", tensor_array(g, bias.id) if bias is not None else None),
            *int8_weights,
        ),
        args=(x.id, y.id),
        # float32_conv.c (edgeq_conv_f32, edgeq_depthwise_conv_f32): pixels in raster order (edgeq_conv_f32_s8w:
        # rows in raster order, per_row); each pixel's window (valid taps only,
        # channels from its group's first, >= channel 0) is read before any later pixel's, its outputs
        # written in between
        overlap_margin=raster_overlap_margin(geo, in_c, out_c, 4, 4, per_row=s8w),
        scratch_bytes=geo["k_h"] * geo["k_w"] * extra[1] * 4 if s8w else 0,  # one filter of floats
    )


@lowering("CONV_2D", dtypes=("float32",))
def lower_conv_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _window_op_f32(g, op, ctx, depthwise=False)


@lowering("DEPTHWISE_CONV_2D", dtypes=("float32",))
def lower_depthwise_conv_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _window_op_f32(g, op, ctx, depthwise=True)
