"""int32 index arithmetic inside int8 models (firmware/kernels/index_ops.c): the comparisons, ADD and
SELECT / SELECT_V2 on int32 tensors.

The converter leaves integer model inputs (token ids) as int32 and emits plain int32 ops on them; Keras 3's
Embedding, for one, becomes ``SELECT(LESS(ids, 0), ADD(ids, vocabulary), ids)`` before its GATHER (a
negative id counts from the end). LiteRT computes these in int32 (ADD: the sum, then the fused activation's
clamp: NONE the int32 range, RELU [0, max], RELU6 [0, 6], RELU_N1_TO_1 [-1, 1]). Operands are the whole
output shape or a single element broadcast over it; other broadcasts are refused. These kernels live with
the int8 lowerings because the models they serve are int8 ones (the lowering packages are per activation
type).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering

COMPARISONS = ("EQUAL", "NOT_EQUAL", "LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL")  # EDGEQ_CMP_* order
_INT32_RANGE = (-(2**31), 2**31 - 1)
_ACT_RANGE = {"NONE": _INT32_RANGE, "RELU": (0, 2**31 - 1), "RELU6": (0, 6), "RELU_N1_TO_1": (-1, 1)}


def _step(t: Tensor, y: Tensor) -> int:
    """1 for an operand of the output's shape, 0 for a single element broadcast over it."""
    if tuple(t.shape) == tuple(y.shape):
        return 1
    need(t.numel == 1, f"operand '{t.name}' of shape {t.shape} broadcast to {y.shape} (only a single element is)")
    return 0


@lowering(*COMPARISONS, dtypes=("int32->bool",))
def lower_compare_i32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    a, b, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_dtype(a, "int32")
    expect_dtype(b, "int32")
    expect_dtype(y, "bool")
    return Lowered(
        kernel="edgeq_compare_i32", struct="edgeq_compare_i32_params", source="index_ops",
        fields=(("size", y.numel), ("a_step", _step(a, y)), ("b_step", _step(b, y)),
                ("cmp", COMPARISONS.index(op.kind))),
        args=(a.id, b.id, y.id),
    )


@lowering("ADD", dtypes=("int32",))
def lower_add_i32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    a, b, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    for t in (a, b, y):
        expect_dtype(t, "int32")
        need(t.quant is None, f"tensor '{t.name}' is quantized (int32 ADD adds plain integers)")
    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in _ACT_RANGE, f"fused activation {act}")
    lo, hi = _ACT_RANGE[act]
    return Lowered(
        kernel="edgeq_add_i32", struct="edgeq_add_i32_params", source="index_ops",
        fields=(("size", y.numel), ("a_step", _step(a, y)), ("b_step", _step(b, y)),
                ("act_min", lo), ("act_max", hi)),
        args=(a.id, b.id, y.id),
    )


@lowering("SELECT", "SELECT_V2", dtypes=("bool->int32",))
def lower_select_i32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    c, a, b, y = (g.tensor(t) for t in (*op.inputs[:3], op.outputs[0]))
    expect_dtype(c, "bool")
    for t in (a, b, y):
        expect_dtype(t, "int32")
    return Lowered(
        kernel="edgeq_select_i32", struct="edgeq_select_i32_params", source="index_ops",
        fields=(("size", y.numel), ("cond_step", _step(c, y)), ("a_step", _step(a, y)), ("b_step", _step(b, y))),
        args=(c.id, a.id, b.id, y.id),
    )
