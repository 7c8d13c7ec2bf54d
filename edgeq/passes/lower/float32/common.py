"""Helpers shared by the float32 lowerings (float32_*.py): dtype checks and fused-activation bounds.

float32 kernels (firmware/kernels/float32_*.c) follow TFLite's float reference kernels operation by
operation; the generated C is checked against LiteRT within the tolerance of
:data:`edgeq.quality.compare.FLOAT_RTOL` (see tests/kernels/test_float32_*.py).
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Op, Tensor
from edgeq.passes.lower.common import need

FLT_MAX = float(np.finfo(np.float32).max)

# CalculateActivationRange (float): the clamp of each fused activation.
_RANGES = {
    "NONE": (-FLT_MAX, FLT_MAX),
    "RELU": (0.0, FLT_MAX),
    "RELU6": (0.0, 6.0),
    "RELU_N1_TO_1": (-1.0, 1.0),
    "RELU_0_TO_1": (0.0, 1.0),
}


def float_act_range(op: Op) -> tuple[float, float]:
    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in _RANGES, f"fused activation {act}")
    return _RANGES[act]


def expect_f32(*tensors: Tensor) -> None:
    for t in tensors:
        need(t.dtype == "float32", f"tensor '{t.name}' is {t.dtype}; this kernel takes float32")


def float_bias(g: Graph, op: Op, index: int, out_c: int) -> Tensor | None:
    """The op's optional float32 bias (constant, one value per output channel), or None."""
    bid = op.inputs[index] if len(op.inputs) > index else -1
    if bid < 0:
        return None
    b = g.tensor(bid)
    expect_f32(b)
    need(b.is_const, "bias is not constant")
    need(b.numel == out_c, f"bias has {b.numel} values for {out_c} output channels")
    return b


def unary_io(g: Graph, op: Op):
    need(len(op.outputs) == 1, f"{op.kind} with {len(op.outputs)} outputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    need(x.numel == y.numel, "input and output sizes differ")
    return x, y
