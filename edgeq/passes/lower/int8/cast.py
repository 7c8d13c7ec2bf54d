"""CAST (firmware/kernels/cast.c) between int8, uint8, int16, int32, int64, float32 and bool.

LiteRT's cast.cc copies with ``static_cast<To>(from)`` element by element and ignores quantization (the
converter emits CAST around integer index tensors and bool masks: ``bool->float32`` / ``bool->int32`` after a
comparison, ``int32->float32`` after ARG_MAX, ...). The kernel states the conversion rules, including edgeq's
choice where C++ leaves a float->integer cast undefined (saturation). One kernel for every pair; it lives with
the int8 lowerings as the other integer-index kernels do (index_ops.py)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import need
from edgeq.passes.lower.registry import LowerCtx, lowering

CAST_TYPES = ("int8", "uint8", "int16", "int32", "int64", "float32", "bool")  # EDGEQ_CAST_* order (cast.h)
CAST_SIGNATURES = tuple(f"{a}->{b}" for a in CAST_TYPES for b in CAST_TYPES if a != b)


@lowering("CAST", dtypes=CAST_SIGNATURES)
def lower_cast(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 1 and len(op.outputs) == 1, f"CAST with {len(op.inputs)} inputs")
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    need(x.dtype in CAST_TYPES and y.dtype in CAST_TYPES, f"CAST from {x.dtype} to {y.dtype}")
    need(x.numel == y.numel, "input and output sizes differ")
    return Lowered(kernel="edgeq_cast", struct="edgeq_cast_params", source="cast",
                   fields=(("size", y.numel), ("in_type", CAST_TYPES.index(x.dtype)),
                           ("out_type", CAST_TYPES.index(y.dtype))),
                   args=(x.id, y.id))
