"""RESHAPE, SQUEEZE and EXPAND_DIMS cost nothing: of a constant they fold into a constant; of an
activation their output shares its input's bytes (no copy, no kernel)."""

from __future__ import annotations

import dataclasses

from edgeq.ir import ALIAS_OPS, Graph


def replace_tensor(g: Graph, tid: int, **changes) -> tuple:
    ts = list(g.tensors)
    ts[tid] = dataclasses.replace(ts[tid], **changes)
    return tuple(ts)


def fold_constant_aliases(g: Graph) -> Graph:
    """RESHAPE/SQUEEZE/EXPAND_DIMS of a constant becomes a constant; the op disappears."""
    ops, tensors = [], g.tensors
    for op in g.ops:
        src = tensors[op.inputs[0]]
        if op.kind in ALIAS_OPS and src.is_const and op.outputs[0] not in g.outputs:
            out = tensors[op.outputs[0]]
            data = src.data.reshape(out.shape)
            g2 = dataclasses.replace(g, tensors=tensors)
            tensors = replace_tensor(g2, out.id, data=data)
            continue
        ops.append(op)
    return dataclasses.replace(g, tensors=tensors, ops=tuple(ops))


def alias_reshapes(g: Graph) -> Graph:
    """RESHAPE/SQUEEZE/EXPAND_DIMS outputs share their input's bytes: no copy, no kernel."""
    tensors = g.tensors
    for op in g.ops:
        if op.kind in ALIAS_OPS:
            src, dst = op.inputs[0], op.outputs[0]
            gg = dataclasses.replace(g, tensors=tensors)
            tensors = replace_tensor(gg, dst, alias_of=gg.storage(src))
    return dataclasses.replace(g, tensors=tensors)
