"""MIRROR_PAD with int16 activations (TFLite 16x8): int8/mirror_pad.py's index tables in int16 elements
(firmware/kernels/int16_mirror_pad.c, the same C body); LiteRT copies the elements."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.mirror_pad import mirror_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("MIRROR_PAD", dtypes=("int16",))
def lower_mirror_pad_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    check_s16(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    return Lowered(kernel="edgeq_mirror_pad_s16", struct="edgeq_mirror_pad_s16_params", source="int16_mirror_pad",
                   fields=mirror_fields(g, op), args=(op.inputs[0], op.outputs[0]))
