"""float32 AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, REDUCE_MAX and REDUCE_MIN (firmware/kernels/float_pooling.c),
as the float reference kernels: the pooling window is clipped to the input, the average divides by the
number of valid taps in float; MEAN sums its reduced elements in row-major order and divides by their
count; REDUCE_MAX / REDUCE_MIN start from the lowest / highest float."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower import LowerCtx, arr, lowering, need
from edgeq.passes.ops.conv import raster_overlap_margin
from edgeq.passes.ops.float32_common import expect_f32, float_act_range
from edgeq.passes.ops.pooling import compute_padding, output_size
from edgeq.passes.ops.reduce import MAX_RANK, resolve_axes, split_dims


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D", dtypes=("float32",))
def lower_pool_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    need(len(x.shape) == 4 and len(y.shape) == 4, f"pooling needs 4-D NHWC tensors, got {x.shape}")
    a = op.attrs
    padding = a.get("padding", "VALID")
    need(padding in ("SAME", "VALID"), f"padding {padding}")
    sh, sw = int(a.get("stride_h", 1)), int(a.get("stride_w", 1))
    fh, fw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    need(sh > 0 and sw > 0 and fh > 0 and fw > 0, "stride and filter size must be positive")
    n, ih, iw, c = x.shape
    oh, ow = output_size(padding, ih, fh, sh), output_size(padding, iw, fw, sw)
    need((n, oh, ow, c) == tuple(y.shape), f"output shape {y.shape} does not match the pooling geometry")
    ph = compute_padding(sh, ih, fh, oh) if padding == "SAME" else 0
    pw = compute_padding(sw, iw, fw, ow) if padding == "SAME" else 0
    for o, s, p, f, size in ((oh, sh, ph, fh, ih), (ow, sw, pw, fw, iw)):
        for i in range(o):
            origin = i * s - p
            need(min(f, size - origin) > max(0, -origin), "a pooling window lies entirely in the padding")
    lo, hi = float_act_range(op)
    return Lowered(
        kernel="edgeq_avg_pool_f32" if op.kind == "AVERAGE_POOL_2D" else "edgeq_max_pool_f32",
        struct="edgeq_pool_f32_params",
        source="float_pooling",
        fields=(
            ("batches", n), ("in_h", ih), ("in_w", iw), ("channels", c), ("out_h", oh), ("out_w", ow),
            ("filter_h", fh), ("filter_w", fw), ("stride_h", sh), ("stride_w", sw),
            ("pad_h", ph), ("pad_w", pw), ("act_min", lo), ("act_max", hi),
        ),
        args=(x.id, y.id),
        # float_pooling.c: pixels in raster order, each channel written right after reading its window
        overlap_margin=raster_overlap_margin(
            dict(batches=n, in_h=ih, in_w=iw, out_h=oh, out_w=ow, k_h=fh, k_w=fw, stride_h=sh, stride_w=sw,
                 dilation_h=1, dilation_w=1, pad_h=ph, pad_w=pw), c, c, 4, 4),
    )


_REDUCE_KERNELS = {"MEAN": "edgeq_mean_f32", "REDUCE_MAX": "edgeq_reduce_max_f32",
                   "REDUCE_MIN": "edgeq_reduce_min_f32"}


@lowering("MEAN", "REDUCE_MAX", "REDUCE_MIN", dtypes=("float32",))
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
        source="float_pooling",
        fields=(
            ("n_kept", len(kept)), ("n_red", len(red)), ("count", count),
            ("kept_size", ints("kept_size", [d for d, _ in kept])),
            ("kept_stride", ints("kept_stride", [s for _, s in kept])),
            ("red_size", ints("red_size", [d for d, _ in red])),
            ("red_stride", ints("red_stride", [s for _, s in red])),
        ),
        args=(x.id, y.id),
    )
