"""RESIZE_NEAREST_NEIGHBOR, int8: a pure copy with source indices computed here, as TFLite does.

TFLite's reference kernel (LiteRT BUILTIN_REF and TFLM share reference_ops::GetNearestNeighbor)
computes each source index with float32 arithmetic:

    scale  = (align_corners && out > 1) ? (float)(in - 1) / (out - 1) : (float)in / out
    offset = half_pixel_centers ? 0.5f : 0.0f
    v      = ((float)i + offset) * scale
    src    = min(align_corners ? (int)roundf(v) : (int)floorf(v), in - 1)
    if half_pixel_centers: src = max(0, src)

:func:`nearest_indices` replicates it with numpy float32 (float64 or exact rational arithmetic gives
different tables, e.g. 14 -> 23 with either flag, 26 -> 22 with neither); the kernel only copies.

Quantization: neither reference requantizes or checks the output parameters; they copy the int8
bytes. The converter always gives the output the input's parameters; if a model has different ones
we still copy, to stay bit-exact with both references.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr, expect_dtype, need
from edgeq.passes.lower.registry import LowerCtx, lowering


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """roundf (half away from zero) of float32 values, exactly: widened to float64, the fraction
    |v| - floor(|v|) is exact, so the half-way test is too."""
    a = np.abs(v.astype(np.float64))  # exact widening of float32
    r = np.floor(a)
    r = np.where(a - r >= 0.5, r + 1, r)  # a - r is exact in float64 for float32 inputs
    return np.copysign(r, v.astype(np.float64))


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """Source index for every output position, as GetNearestNeighbor computes it (float32)."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    v = (np.arange(out_size, dtype=np.int64).astype(f32) + offset) * scale  # float32 all the way
    assert v.dtype == np.float32
    idx = _round_half_away(v) if align_corners else np.floor(v)
    idx = np.minimum(idx.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        idx = np.maximum(idx, 0)
    return idx


@lowering("RESIZE_NEAREST_NEIGHBOR")
def lower_resize_nearest(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) == 2, f"RESIZE_NEAREST_NEIGHBOR with {len(op.inputs)} inputs")
    x, size, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    need(len(x.shape) == 4, f"input is {len(x.shape)}-D, not 4-D")
    need(size.is_const, "the size input is not constant")
    expect_dtype(size, "int32")
    hw = [int(v) for v in np.asarray(size.data).reshape(-1)]
    need(len(hw) == 2, f"size has {len(hw)} values, not 2")
    n, in_h, in_w, c = x.shape
    out_h, out_w = hw
    need(out_h > 0 and out_w > 0, f"output size {out_h}x{out_w}")
    need(tuple(y.shape) == (n, out_h, out_w, c), f"output shape {y.shape} does not match size {hw}")
    align = bool(op.attrs.get("align_corners", False))
    half = bool(op.attrs.get("half_pixel_centers", False))
    ys = nearest_indices(in_h, out_h, align, half)
    xs = nearest_indices(in_w, out_w, align, half)
    return Lowered(
        kernel="edgeq_resize_nearest_s8",
        struct="edgeq_resize_nearest_s8_params",
        source="resize",
        fields=(
            ("batches", n), ("in_image", in_h * in_w * c), ("out_h", out_h), ("out_w", out_w), ("depth", c),
            ("row_offset", arr(op, "row_offset", (ys * in_w * c).astype(np.int32), "int32_t")),
            ("col_offset", arr(op, "col_offset", (xs * c).astype(np.int32), "int32_t")),
        ),
        args=(x.id, y.id),
    )
