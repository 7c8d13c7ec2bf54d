"""Activation fusion: a standalone RELU/RELU6 folds into its producer's clamp when that is exact."""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Op


_FUSABLE_PRODUCERS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "MUL", "TRANSPOSE_CONV",
                      "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION"}


def fuse_activations(g: Graph) -> Graph:
    """Fold a standalone RELU/RELU6 into the op before it as a clamp.

    Only when it is exact: the activation's input and output have identical quantization (so its
    requantization is the identity), the producer has no fused activation yet and nobody else reads
    the producer's output.
    """
    consumers = g.consumers()
    producers = g.producers()
    drop: set[int] = set()
    rewired: dict[int, Op] = {}
    for op in g.ops:
        if op.kind not in ("RELU", "RELU6"):
            continue
        src, dst = op.inputs[0], op.outputs[0]
        p = producers.get(src)
        if p is None or p in rewired or src in g.outputs or len(consumers.get(src, [])) != 1:
            continue
        prod = rewired.get(p, g.ops[p])
        ti, to = g.tensor(src), g.tensor(dst)
        if (prod.kind not in _FUSABLE_PRODUCERS or prod.attrs.get("fused_activation_function") != "NONE"
                or ti.quant != to.quant or ti.dtype != to.dtype):
            continue
        attrs = dict(prod.attrs, fused_activation_function=op.kind)
        rewired[p] = dataclasses.replace(prod, outputs=(dst,) + prod.outputs[1:], attrs=attrs,
                                         location=to.name)
        drop.add(op.id)
    ops = tuple(rewired.get(o.id, o) for o in g.ops if o.id not in drop)
    return dataclasses.replace(g, ops=ops)
