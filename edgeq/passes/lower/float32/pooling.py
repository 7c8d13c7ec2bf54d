"""float32 AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, SUM, REDUCE_MAX and REDUCE_MIN (firmware/kernels/float32_pooling.c),
as the float reference kernels: the pooling window is clipped to the input, the average divides by the
number of valid taps in float; MEAN sums its reduced elements in row-major order and divides by their
count; SUM adds them in the same order from 0.0f (from the first element when every dimension is reduced,
as ReduceAllDims); REDUCE_MAX / REDUCE_MIN start from the lowest / highest float."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, need
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.geometry import raster_overlap_margin
from edgeq.passes.lower.float32.common import expect_f32, float_act_range
from edgeq.passes.lower.int8.pooling import pool_fields, pool_geometry
from edgeq.passes.lower.int8.reduce import MAX_RANK, resolve_axes, split_dims


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D", dtypes=("float32",))
def lower_pool_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    geo = pool_geometry(op, x, y)
    lo, hi = float_act_range(op)
    return Lowered(
        kernel="edgeq_avg_pool_f32" if op.kind == "AVERAGE_POOL_2D" else "edgeq_max_pool_f32",
        struct="edgeq_pool_f32_params",
        source="float32_pooling",
        fields=pool_fields(geo, lo, hi),
        args=(x.id, y.id),
        # float32_pooling.c: pixels in raster order, each channel written right after reading its window
        overlap_margin=raster_overlap_margin(geo, geo["channels"], geo["channels"], 4, 4),
    )


_REDUCE_KERNELS = {"MEAN": "edgeq_mean_f32", "SUM": "edgeq_sum_f32", "REDUCE_MAX": "edgeq_reduce_max_f32",
                   "REDUCE_MIN": "edgeq_reduce_min_f32"}


@lowering("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", dtypes=("float32",))
def lower_mean_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    ax = g.tensor(op.inputs[1])
    need(ax.is_const and ax.dtype in ("int32", "int64"), "the reduction axes are not constant integers")
    need(0 < len(x.shape) <= MAX_RANK, f"input rank {len(x.shape)} (supported: 1..{MAX_RANK})")
    need(x.numel > 0, "empty input")
    axes = resolve_axes(ax.data, len(x.shape))
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    kept, red = split_dims(x.shape, axes)
    need(int(np.prod([d for d, _ in kept], dtype=np.int64)) == y.numel,
         f"output shape {y.shape} does not match reducing {x.shape} over axes {axes}")

    def ints(field, v):
        return arr(op, field, np.array(v, np.int32), "int32_t")

    return Lowered(
        kernel=_REDUCE_KERNELS[op.kind],
        struct="edgeq_mean_f32_params",
        source="float32_pooling",
        fields=(
            ("n_kept", len(kept)), ("n_red", len(red)), ("count", count),
            ("kept_size", ints("kept_size", [d for d, _ in kept])),
            ("kept_stride", ints("kept_stride", [s for _, s in kept])),
            ("red_size", ints("red_size", [d for d, _ in red])),
            ("red_stride", ints("red_stride", [s for _, s in red])),
            ("sum_from_first", int(op.kind == "SUM" and len(axes) == len(x.shape))),  # ReduceAllDims
        ),
        args=(x.id, y.id),
    )
