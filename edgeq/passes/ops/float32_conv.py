"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on float32 tensors (firmware/kernels/float_conv.c,
float_fully_connected.c), as reference_ops::Conv / DepthwiseConv / FullyConnected: geometry and
padding as the int8 lowerings (edgeq.passes.ops.conv), float weights and bias emitted as they are."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower import LowerCtx, lowering, need, tensor_array
from edgeq.passes.ops.conv import _geometry, raster_overlap_margin
from edgeq.passes.ops.float32_common import expect_f32, float_act_range, float_bias


def _geo_fields(geo: dict, in_c: int, out_c: int) -> tuple:
    return (
        ("batches", geo["batches"]), ("in_h", geo["in_h"]), ("in_w", geo["in_w"]), ("in_c", in_c),
        ("out_h", geo["out_h"]), ("out_w", geo["out_w"]), ("out_c", out_c),
        ("k_h", geo["k_h"]), ("k_w", geo["k_w"]),
    )


def _stride_fields(geo: dict) -> tuple:
    return (
        ("stride_h", geo["stride_h"]), ("stride_w", geo["stride_w"]),
        ("dilation_h", geo["dilation_h"]), ("dilation_w", geo["dilation_w"]),
        ("pad_h", geo["pad_h"]), ("pad_w", geo["pad_w"]),
    )


@lowering("CONV_2D", dtypes=("float32",))
def lower_conv_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, w, y)
    need(w.is_const, "filter is not constant")
    need(len(w.shape) == 4, f"filter shape {w.shape} is not [out_c, kh, kw, in_c]")
    out_c, k_h, k_w, fin = w.shape
    geo = _geometry(op, x, y, k_h, k_w)
    in_c = x.shape[3]
    need(y.shape[3] == out_c, f"output has {y.shape[3]} channels, filter {out_c}")
    need(fin > 0 and in_c % fin == 0, f"input channels {in_c} not a multiple of filter depth {fin}")
    need(out_c % (in_c // fin) == 0, f"{out_c} output channels do not split into {in_c // fin} groups")
    lo, hi = float_act_range(op)
    bias = float_bias(g, op, 2, out_c)
    return Lowered(
        kernel="edgeq_conv_f32",
        struct="edgeq_conv_f32_params",
        source="float_conv",
        fields=(
            *_geo_fields(geo, in_c, out_c), ("filter_in_c", fin), *_stride_fields(geo),
            ("act_min", lo), ("act_max", hi),
            ("weights", tensor_array(g, w.id)),
            ("bias", tensor_array(g, bias.id) if bias is not None else None),
        ),
        args=(x.id, y.id),
        # float_conv.c: pixels in raster order; each pixel's window (valid taps only, channels from its
        # group's first, >= channel 0) is read before any later pixel's, its outputs written in between
        overlap_margin=raster_overlap_margin(geo, in_c, out_c, 4, 4),
    )


@lowering("DEPTHWISE_CONV_2D", dtypes=("float32",))
def lower_depthwise_conv_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, w, y)
    need(w.is_const, "filter is not constant")
    need(len(w.shape) == 4 and w.shape[0] == 1, f"filter shape {w.shape} is not [1, kh, kw, out_c]")
    _, k_h, k_w, out_c = w.shape
    geo = _geometry(op, x, y, k_h, k_w)
    in_c = x.shape[3]
    need(y.shape[3] == out_c, f"output has {y.shape[3]} channels, filter {out_c}")
    need(in_c > 0 and out_c % in_c == 0, f"filter channels {out_c} not a multiple of input channels {in_c}")
    dm = out_c // in_c
    if ctx.rounding == "tflm":
        attr_dm = int(op.attrs.get("depth_multiplier", 0))
        need(attr_dm == dm, f"depth_multiplier option {attr_dm} disagrees with the shapes ({dm})")
    lo, hi = float_act_range(op)
    bias = float_bias(g, op, 2, out_c)
    return Lowered(
        kernel="edgeq_depthwise_conv_f32",
        struct="edgeq_depthwise_conv_f32_params",
        source="float_conv",
        fields=(
            *_geo_fields(geo, in_c, out_c), ("depth_mult", dm), *_stride_fields(geo),
            ("act_min", lo), ("act_max", hi),
            ("weights", tensor_array(g, w.id)),
            ("bias", tensor_array(g, bias.id) if bias is not None else None),
        ),
        args=(x.id, y.id),
        overlap_margin=raster_overlap_margin(geo, in_c, out_c, 4, 4),  # raster order, as CONV_2D
    )


@lowering("FULLY_CONNECTED", dtypes=("float32",))
def lower_fully_connected_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x, w, y)
    need(w.is_const, "weights are not constant")
    need(len(w.shape) == 2, f"weights shape {w.shape} is not [out, in]")
    out_d, in_d = w.shape
    need(in_d > 0 and x.numel % in_d == 0, f"input of {x.numel} values is not a multiple of depth {in_d}")
    batches = x.numel // in_d
    need(y.numel == batches * out_d, f"output has {y.numel} values, expected {batches} x {out_d}")
    lo, hi = float_act_range(op)
    bias = float_bias(g, op, 2, out_d)
    return Lowered(
        kernel="edgeq_fully_connected_f32",
        struct="edgeq_fully_connected_f32_params",
        source="float_fully_connected",
        fields=(
            ("batches", batches), ("in_depth", in_d), ("out_depth", out_d),
            ("act_min", lo), ("act_max", hi),
            ("weights", tensor_array(g, w.id)),
            ("bias", tensor_array(g, bias.id) if bias is not None else None),
        ),
        args=(x.id, y.id),
    )


