"""MEAN / REDUCE_MAX / REDUCE_MIN, CONCATENATION and PAD / PADV2 with int16 activations (TFLite 16x8).

The geometry and quantization arithmetic are those of the int8 lowerings (reduce.py, shape_ops.py; LiteRT
runs the same templated reference code for int16: QuantizedMeanOrSum with an int32 sum, byte copies for
CONCATENATION and PAD), computed here by running those lowerings on an int8-typed view of the op and
re-targeting the result at the int16 kernels (firmware/kernels/int16_reduce.c, int16_shape_ops.c), with
the int16 clamp range. Measured in tests/kernels/test_int16_ops.py.
"""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.shape_ops import lower_concatenation, lower_pad
from edgeq.passes.lower.quantmath import activation_range


def as_int8(g: Graph, op: Op) -> Graph:
    """The graph with this op's int16 tensors typed int8 (their values untouched)."""
    ids = {t for t in (*op.inputs, *op.outputs) if t >= 0 and g.tensor(t).dtype == "int16"}
    return dataclasses.replace(g, tensors=tuple(dataclasses.replace(t, dtype="int8") if t.id in ids else t
                                                for t in g.tensors))


def retarget(low: Lowered, kernel: str, struct: str, source: str, **replace) -> Lowered:
    fields = tuple((k, replace.get(k, v)) for k, v in low.fields)
    return dataclasses.replace(low, kernel=kernel, struct=struct, source=source, fields=fields)


@lowering("CONCATENATION", "PACK", dtypes=("int16",))
def lower_concatenation_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    y = g.tensor(op.outputs[0])
    check_s16(y, *(g.tensor(t) for t in op.inputs))
    low = lower_concatenation(as_int8(g, op), op, ctx)
    lo, hi = -32768, 32767
    act = op.attrs.get("fused_activation_function", "NONE")
    if act != "NONE":
        lo, hi = activation_range(act, scale(y), zp(y), lo, hi)
    return retarget(low, "edgeq_concat_s16", "edgeq_concat_s16_params", "int16_shape_ops", act_min=lo, act_max=hi)


@lowering("PAD", "PADV2", dtypes=("int16",))
def lower_pad_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    check_s16(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    low = lower_pad(as_int8(g, op), op, ctx)
    return retarget(low, "edgeq_pad_s16", "edgeq_pad_s16_params", "int16_shape_ops")
