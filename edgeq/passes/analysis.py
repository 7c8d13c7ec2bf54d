"""Read-only facts about a graph: op histogram, MAC count, sizes. Pure functions."""

from __future__ import annotations

from collections import Counter

import numpy as np

from edgeq.ir import Graph, Op


def op_macs(g: Graph, op: Op) -> int:
    """Multiply-accumulates of one op (0 for ops that only move or compare data)."""
    t = g.tensor
    if op.kind == "CONV_2D":
        w = t(op.inputs[1])
        return t(op.outputs[0]).numel * int(np.prod(w.shape[1:]))
    if op.kind == "DEPTHWISE_CONV_2D":
        w = t(op.inputs[1])
        return t(op.outputs[0]).numel * w.shape[1] * w.shape[2]
    if op.kind == "FULLY_CONNECTED":
        w = t(op.inputs[1])
        return t(op.inputs[0]).numel // w.shape[1] * w.shape[0] * w.shape[1]
    if op.kind == "TRANSPOSE_CONV":
        w = t(op.inputs[1])
        return t(op.inputs[2]).numel * w.shape[0] * w.shape[1] * w.shape[2]
    if op.kind == "BATCH_MATMUL":  # each output element accumulates over the lhs's depth
        lhs = t(op.inputs[0])
        return t(op.outputs[0]).numel * lhs.shape[-2 if op.attrs.get("adj_x") else -1]
    return 0


def macs(g: Graph) -> int:
    return sum(op_macs(g, op) for op in g.ops)


def op_histogram(g: Graph) -> dict[str, int]:
    return dict(Counter(op.kind for op in g.ops).most_common())


def weights_bytes(g: Graph) -> int:
    return sum(t.nbytes for t in g.tensors if t.is_const)
