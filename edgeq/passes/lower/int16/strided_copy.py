"""TRANSPOSE, TILE, SLICE, REVERSE_V2 and STRIDED_SLICE with int16 activations (TFLite 16x8): the strided
copy of int8/strided_copy.py in int16 elements (firmware/kernels/int16_strided_copy.c; LiteRT's reference
kernels copy int16 elements exactly as int8 ones; its one TILE kernel takes int16 once loaded, see
edgeq.quality.references.REF_SAME_KERNEL; the converter has no 16x8 DEPTH_TO_SPACE / SPACE_TO_DEPTH).
STRIDED_SLICE's begin/end/stride/mask resolution is the int8 (int8/shape_ops.py), run on an int8-typed view of the op and laid onto this kernel's axes."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.int16.conv import check_s16
from edgeq.passes.lower.int16.shape_ops import as_int8
from edgeq.passes.lower.int8.shape_ops import lower_strided_slice
from edgeq.passes.lower.int8.strided_copy import copy_fields, copy_params


def _lowered(g: Graph, op: Op, fields: tuple) -> Lowered:
    return Lowered(
        kernel="edgeq_strided_copy_s16",
        struct="edgeq_strided_copy_s16_params",
        source="int16_strided_copy",
        fields=fields,
        args=(op.inputs[0], op.outputs[0]),
    )


@lowering("TRANSPOSE", "TILE", "SLICE", "REVERSE_V2", dtypes=("int16",))
def lower_strided_copy_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    check_s16(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    return _lowered(g, op, copy_params(g, op))


@lowering("STRIDED_SLICE", dtypes=("int16",))
def lower_strided_slice_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    check_s16(g.tensor(op.inputs[0]), g.tensor(op.outputs[0]))
    low = dict(lower_strided_slice(as_int8(g, op), op, ctx).fields)
    counts, steps = (np.asarray(low[k].values).tolist() for k in ("count", "step"))
    return _lowered(g, op, copy_fields(op, low["offset"], list(zip(counts, steps))))
