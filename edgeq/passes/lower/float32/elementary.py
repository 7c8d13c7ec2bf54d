"""float32 SQUARE, FLOOR and ROUND (firmware/kernels/float32_elementary.c): exact in float, as LiteRT's
reference kernels compute them (SQUARE x * x; FLOOR floorf; ROUND RoundToNearest, half to even). LiteRT has
them in float32 only (the int8 converter wraps them in DEQUANTIZE / QUANTIZE)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.float32.common import unary_io
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SQUARE", "FLOOR", "ROUND", dtypes=("float32",))
def lower_elementary_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = unary_io(g, op)
    return Lowered(kernel=f"edgeq_{op.kind.lower()}_f32", struct="edgeq_elementary_f32_params",
                   source="float32_elementary", fields=(("size", x.numel),), args=(x.id, y.id))
