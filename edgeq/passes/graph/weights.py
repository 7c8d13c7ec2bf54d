"""Weight-only int8 (and dynamic-range) models: the float kernels read the int8 weights themselves.

A weight-only .tflite (edgeq.frontend.weight_only) feeds each float CONV_2D, DEPTHWISE_CONV_2D,
FULLY_CONNECTED and BATCH_MATMUL a DEQUANTIZE of a constant int8 tensor (symmetric, per channel or per
tensor). :func:`fold_weight_dequantize` removes such a DEQUANTIZE and hands the consumer the int8 tensor
itself (with its scales): the float32 lowerings (passes/lower/float32) then emit the int8 weights and one
float scale per output channel, and the kernel computes ``(float)w * scale[c]`` inside its inner loop,
exactly the value LiteRT's DEQUANTIZE gives, so neither flash nor RAM holds a float copy of the weights.

A DEQUANTIZE of a constant that feeds anything else (or is a model output) stays an op: it then runs at
every invoke into the arena (the int8 DEQUANTIZE kernel), still with no float copy in flash.
"""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph

# op kind -> the input positions whose weights its float32 kernel reads as int8 + per-channel scales
INT8_WEIGHT_INPUTS = {"CONV_2D": (1,), "DEPTHWISE_CONV_2D": (1,), "FULLY_CONNECTED": (1,), "BATCH_MATMUL": (1,)}


def is_int8_weight(g: Graph, tid: int) -> bool:
    """A constant symmetric int8 tensor with scales: what a weight-only model dequantizes."""
    t = g.tensor(tid)
    return (t.is_const and t.dtype == "int8" and t.quant is not None
            and all(z == 0 for z in t.quant.zero_point))


def fold_weight_dequantize(g: Graph) -> Graph:
    """DEQUANTIZE(constant int8 W) -> CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED / BATCH_MATMUL becomes
    that op reading W directly (the DEQUANTIZE disappears) when every reader of the float tensor takes it
    at a weight position of :data:`INT8_WEIGHT_INPUTS` and it is not a model output."""
    readers_of: dict[int, list] = {}
    for op in g.ops:
        for t in set(op.inputs):
            readers_of.setdefault(t, []).append(op)
    replace: dict[int, int] = {}  # float weight tensor -> its int8 source
    for op in g.ops:
        if op.kind != "DEQUANTIZE" or not is_int8_weight(g, op.inputs[0]):
            continue
        out = op.outputs[0]
        if out in g.outputs or g.tensor(out).dtype != "float32":
            continue
        readers = readers_of.get(out, [])
        if readers and all(r.kind in INT8_WEIGHT_INPUTS and
                           all(pos in INT8_WEIGHT_INPUTS[r.kind] for pos, t in enumerate(r.inputs) if t == out)
                           for r in readers):
            replace[out] = op.inputs[0]
    if not replace:
        return g
    ops = []
    for op in g.ops:
        if op.kind == "DEQUANTIZE" and op.outputs[0] in replace:
            continue
        if any(t in replace for t in op.inputs):
            op = dataclasses.replace(op, inputs=tuple(replace.get(t, t) for t in op.inputs))
        ops.append(op)
    return dataclasses.replace(g, ops=tuple(ops))
