"""float32 RESIZE_BILINEAR (firmware/kernels/float32_resize.c): LiteRT's float reference
(reference_ops::ResizeBilinear<float>, run by BUILTIN_REF; TFLM's float kernel is the same function):

    scale   = (float)in / out          (align_corners && out > 1: (float)(in - 1) / (out - 1))
    v       = half_pixel_centers ? ((float)i + 0.5f) * scale - 0.5f : (float)i * scale
    lo      = max((int)floorf(v), 0)        hi = min((int)ceilf(v), in - 1)
    out     = in[lo_y][lo_x] * (1 - (vy - lo_y)) * (1 - (vx - lo_x)) + in[hi_y][lo_x] * (vy - lo_y) * (1 - ..)
              + in[lo_y][hi_x] * (1 - (vy - lo_y)) * (vx - lo_x) + in[hi_y][hi_x] * (vy - lo_y) * (vx - lo_x)

The tables (lo, hi, and the fraction v - lo, all float32 as in C) are computed here in numpy float32; the
kernel evaluates the sum in the reference's order. Checked within the float tolerance of quality/compare.py.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import arr
from edgeq.passes.lower.float32.common import expect_f32
from edgeq.passes.lower.int8.resize import resize_geometry
from edgeq.passes.lower.registry import LowerCtx, lowering


def bilinear_tables_f32(in_size: int, out_size: int, align_corners: bool,
                        half_pixel_centers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, frac) per output position, as the float ComputeInterpolationValues computes them."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    i = np.arange(out_size, dtype=np.int64).astype(f32)
    v = (i + f32(0.5)) * scale - f32(0.5) if half_pixel_centers else i * scale
    assert v.dtype == np.float32
    lo = np.maximum(np.floor(v).astype(np.int64), 0)
    hi = np.minimum(np.ceil(v).astype(np.int64), in_size - 1)
    return lo, hi, (v - lo.astype(f32)).astype(f32)


@lowering("RESIZE_BILINEAR", dtypes=("float32",))
def lower_resize_bilinear_f32(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_f32(x, y)
    (n, in_h, in_w, c), (out_h, out_w), align, half = resize_geometry(g, op)
    ylo, yhi, yf = bilinear_tables_f32(in_h, out_h, align, half)
    xlo, xhi, xf = bilinear_tables_f32(in_w, out_w, align, half)
    row = in_w * c
    return Lowered(
        kernel="edgeq_resize_bilinear_f32",
        struct="edgeq_resize_bilinear_f32_params",
        source="float32_resize",
        fields=(
            ("batches", n), ("in_image", in_h * in_w * c), ("out_h", out_h), ("out_w", out_w), ("depth", c),
            ("y_lo", arr(op, "y_lo", (ylo * row).astype(np.int32), "int32_t")),
            ("y_hi", arr(op, "y_hi", (yhi * row).astype(np.int32), "int32_t")),
            ("y_frac", arr(op, "y_frac", yf, "float")),
            ("x_lo", arr(op, "x_lo", (xlo * c).astype(np.int32), "int32_t")),
            ("x_hi", arr(op, "x_hi", (xhi * c).astype(np.int32), "int32_t")),
            ("x_frac", arr(op, "x_frac", xf, "float")),
        ),
        args=(x.id, y.id),
    )
