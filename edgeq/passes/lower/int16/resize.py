"""RESIZE_BILINEAR with int16 activations (TFLite 16x8): LiteRT runs the int8 kernel's
ResizeBilinearInteger on int16 elements (1/1024 weights, double rounding, no requantization), so this is
int8/resize.py's tables with the same C body in int16 elements and an int64 accumulator
(firmware/kernels/int16_resize.c)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.resize import bilinear_fields
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("RESIZE_BILINEAR", dtypes=("int16",))
def lower_resize_bilinear_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    check_s16(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    return Lowered(kernel="edgeq_resize_bilinear_s16", struct="edgeq_resize_bilinear_s16_params",
                   source="int16_resize", fields=bilinear_fields(g, op, ctx), args=(op.inputs[0], op.outputs[0]))
