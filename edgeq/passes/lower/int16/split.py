"""SPLIT, SPLIT_V and UNPACK on int16 (TFLite 16x8, firmware/kernels/int16_split.c): the int8 lowering's
layout (:func:`edgeq.passes.lower.int8.split.split_layout`) in elements of two bytes; plain copies, as
LiteRT's and TFLM's reference kernels (the converter gives the outputs the input's scale).

GRU and SimpleRNN layers quantized with ``--scheme int16x8`` are unrolled by edgeq.frontend.rnn: UNPACK cuts
the sequence into steps (docs/rnn.md)."""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int8.split import split_lowered
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SPLIT", "SPLIT_V", "UNPACK", dtypes=("int16",))
def lower_split_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return split_lowered(g, op, check_s16, "s16", "int16_split")
