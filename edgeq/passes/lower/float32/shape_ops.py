"""float32 CONCATENATION (and PACK), PAD / PADV2, STRIDED_SLICE and RESIZE_NEAREST_NEIGHBOR
(firmware/kernels/float32_shape_ops.c): plain copies.

STRIDED_SLICE and RESIZE_NEAREST_NEIGHBOR reuse the int8 lowerings' geometry (slice resolution, source
rows and columns), which is in elements and independent of the element type: the int8 lowering runs on
a view of the graph where the two tensors are int8, and its parameters go to the float kernel."""

from __future__ import annotations

import dataclasses

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.float32.common import expect_f32, float_act_range
from edgeq.passes.lower.int8.resize import lower_resize_nearest
from edgeq.passes.lower.int8.shape_ops import concat_inputs, concat_layout, lower_strided_slice, pad_amounts, pad_loop_fields


@lowering("CONCATENATION", "PACK", dtypes=("float32",))
def lower_concatenation_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    ins = concat_inputs(g, op)
    y = g.tensor(op.outputs[0])
    need(len(ins) >= 1, "no inputs")
    expect_f32(*ins, y)
    outer, sizes = concat_layout(op, ins, y)
    act = op.attrs.get("fused_activation_function", "NONE")
    lo, hi = float_act_range(op)
    return Lowered(
        kernel="edgeq_concat_f32",
        struct="edgeq_concat_f32_params",
        source="float32_shape_ops",
        fields=(
            ("outer", outer), ("num_inputs", len(ins)), ("clamp", int(act != "NONE")),
            ("act_min", lo), ("act_max", hi),
            ("sizes", arr(op, "sizes", np.array(sizes, np.int32), "int32_t")),
        ),
        args=(tuple(t.id for t in ins), y.id),
    )


@lowering("PAD", "PADV2", dtypes=("float32",))
def lower_pad_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    before, after = pad_amounts(g, op, x, y)
    pad_value = 0.0
    cv = op.inputs[2] if len(op.inputs) > 2 else -1
    if cv >= 0:
        c = g.tensor(cv)
        expect_f32(c)
        need(c.is_const and c.numel == 1, "constant_values is not a constant scalar")
        pad_value = float(np.asarray(c.data, np.float32).reshape(-1)[0])
        need(np.isfinite(pad_value), "constant_values is not finite")
    loops = pad_loop_fields(op, x.shape, before, after)
    return Lowered(
        kernel="edgeq_pad_f32",
        struct="edgeq_pad_f32_params",
        source="float32_shape_ops",
        fields=(("pad_value", pad_value), *loops),
        args=(x.id, y.id),
    )


def _as_int8_view(g: Graph, op: Op) -> Graph:
    """``g`` with the op's data input and output relabelled int8 (no quantization), for the int8
    lowerings whose parameters are element offsets."""
    ids = {op.inputs[0], op.outputs[0]}
    tensors = tuple(dataclasses.replace(t, dtype="int8", quant=None) if t.id in ids else t for t in g.tensors)
    return dataclasses.replace(g, tensors=tensors)


def _from_int8(g: Graph, op: Op, ctx: LowerCtx, fn, kernel: str, struct: str) -> Lowered:
    expect_f32(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    low = fn(_as_int8_view(g, op), op, ctx)
    # elements are 4 bytes here: no in-place or overlap rule of the int8 kernel carries over
    return dataclasses.replace(low, kernel=kernel, struct=struct, source="float32_shape_ops", inplace=False,
                               overlap_margin=None)


@lowering("STRIDED_SLICE", dtypes=("float32",))
def lower_strided_slice_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _from_int8(g, op, ctx, lower_strided_slice, "edgeq_strided_slice_f32", "edgeq_strided_slice_f32_params")


@lowering("RESIZE_NEAREST_NEIGHBOR", dtypes=("float32",))
def lower_resize_nearest_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _from_int8(g, op, ctx, lower_resize_nearest, "edgeq_resize_nearest_f32",
                      "edgeq_resize_nearest_f32_params")
