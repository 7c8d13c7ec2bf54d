"""float32 ADD, SUB, MUL (numpy broadcasting) and activations (firmware/kernels/float32_elementwise.c):
RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU, HARD_SWISH (LOGISTIC, TANH: float32/softmax.py).

ADD/SUB/MUL and the RELU family are single IEEE operations per element, so they match the float
reference kernels exactly; LOGISTIC and TANH use edgeq's own exponential (no libm on the firmware)
and agree within the stated tolerance (edgeq.quality.compare.FLOAT_RTOL)."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int8.elementwise import broadcast_loops
from edgeq.passes.lower.float32.common import FLT_MAX, expect_f32, float_act_range, unary_io


@lowering("ADD", "SUB", "MUL", dtypes=("float32",))
def lower_binary_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2 and len(op.outputs) == 1, f"{op.kind} with {len(op.inputs)} inputs")
    x1, x2, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_f32(x1, x2, y)
    shape, st1, st2 = broadcast_loops(x1.shape, x2.shape, y.shape)
    lo, hi = float_act_range(op)
    return Lowered(
        kernel={"ADD": "edgeq_add_f32", "SUB": "edgeq_sub_f32", "MUL": "edgeq_mul_f32"}[op.kind],
        struct="edgeq_binary_f32_params",
        source="float32_elementwise",
        fields=(
            ("ndim", len(shape)),
            ("shape", arr(op, "shape", np.array(shape, np.int32), "int32_t")),
            ("stride1", arr(op, "stride1", np.array(st1, np.int32), "int32_t")),
            ("stride2", arr(op, "stride2", np.array(st2, np.int32), "int32_t")),
            ("act_min", lo), ("act_max", hi),
        ),
        args=(x1.id, x2.id, y.id),
        inplace=True,  # out[i] is written after in1[i], in2[i] are read; a broadcast operand is smaller
    )




_CLAMPS = {"RELU": (0.0, FLT_MAX), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0), "RELU_0_TO_1": (0.0, 1.0)}


@lowering("RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", dtypes=("float32",))
def lower_relu_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    lo, hi = _CLAMPS[op.kind]
    return Lowered(kernel="edgeq_clamp_f32", struct="edgeq_clamp_f32_params", source="float32_elementwise",
                   fields=(("size", y.numel), ("lo", lo), ("hi", hi)), args=(x.id, y.id), inplace=True)


@lowering("LEAKY_RELU", dtypes=("float32",))
def lower_leaky_relu_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    alpha = float(np.float32(op.attrs.get("alpha", 0.2)))
    return Lowered(kernel="edgeq_leaky_relu_f32", struct="edgeq_leaky_relu_f32_params",
                   source="float32_elementwise", fields=(("size", y.numel), ("alpha", alpha)),
                   args=(x.id, y.id), inplace=True)


@lowering("HARD_SWISH", dtypes=("float32",))
def lower_hard_swish_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    return Lowered(kernel="edgeq_hard_swish_f32", struct="edgeq_hard_swish_f32_params",
                   source="float32_elementwise", fields=(("size", y.numel),), args=(x.id, y.id), inplace=True)
