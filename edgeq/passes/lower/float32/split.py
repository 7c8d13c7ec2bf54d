"""SPLIT, SPLIT_V and UNPACK on float32 (firmware/kernels/float32_split.c): the int8 lowering's layout
(:func:`edgeq.passes.lower.int8.split.split_layout`), in elements of four bytes; plain copies."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.split import split_layout
from edgeq.passes.lower.registry import LowerCtx, lowering


@lowering("SPLIT", "SPLIT_V", "UNPACK", dtypes=("float32",))
def lower_split_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, outs, outer, sizes = split_layout(g, op)
    expect_f32(x, *outs)
    return Lowered(
        kernel="edgeq_split_f32",
        struct="edgeq_split_f32_params",
        source="float32_split",
        fields=(
            ("outer", outer), ("num_outputs", len(outs)),
            ("sizes", arr(op, "sizes", np.array(sizes, np.int32), "int32_t")),
        ),
        args=(x.id, tuple(t.id for t in outs)),
    )
