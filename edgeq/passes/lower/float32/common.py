"""Helpers shared by the float32 lowerings (float32_*.py): dtype checks and fused-activation bounds.

float32 kernels (firmware/kernels/float32_*.c) follow TFLite's float reference kernels operation by
operation; the generated C is checked against LiteRT within the tolerance of
:data:`edgeq.quality.compare.FLOAT_RTOL` (see tests/kernels/test_float32_*.py).

Weight-only int8 (:func:`weight_fields`): CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED take their weights
either as float32 or as the constant symmetric int8 tensor a weight-only model dequantizes (the
fold-weight-dequantize pass, edgeq.passes.graph.weights, hands it over) with one float scale per output
channel; the kernel computes ``(float)w * scale[c]`` in its inner loop (tests/kernels/test_weight_only_kernels.py).
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import ArrayRef, Graph, Op, Tensor
from edgeq.passes.lower.common import arr, need, tensor_array

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


def weight_fields(g: Graph, op: Op, w: Tensor, out_c: int, axis: int
                  ) -> tuple[tuple[str, ArrayRef | None], tuple[tuple[str, ArrayRef | None], ...]]:
    """The ``weights`` field and the (``weights_s8``, ``scales``) fields of a float32 kernel that reads float
    weights or weight-only int8 ones: float32 weights as they are (no int8 arrays), or the int8 tensor as it
    is with its scales, one float per output channel (a per-tensor scale repeated; ``axis``: the weight
    dimension of the output channel), and no float weights."""
    need(w.is_const, "weights are not constant")
    if w.dtype == "float32":
        return ("weights", tensor_array(g, w.id)), (("weights_s8", None), ("scales", None))
    need(w.dtype == "int8", f"weights '{w.name}' are {w.dtype}; float32 kernels take float32 or int8 weights")
    need(w.quant is not None and all(z == 0 for z in w.quant.zero_point), "int8 weights are not symmetric")
    n = len(w.quant.scale)
    need(n == 1 or (n == out_c and w.quant.axis == axis and w.shape[axis] == out_c),
         f"int8 weights have {n} scales along axis {w.quant.axis}, not one or {out_c} along axis {axis}")
    scales = np.array(w.quant.scale * (out_c if n == 1 else 1), dtype=np.float32)
    return ("weights", None), (("weights_s8", tensor_array(g, w.id)), ("scales", arr(op, "scales", scales, "float")))
