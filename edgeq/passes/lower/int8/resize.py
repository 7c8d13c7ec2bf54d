"""RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR, int8; the source indices and weights computed here.

RESIZE_NEAREST_NEIGHBOR is a pure copy with source indices computed as TFLite does.

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
from edgeq.passes.lower.common import arr, expect_dtype, need, rounding_flag
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
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    (n, in_h, in_w, c), (out_h, out_w), align, half = resize_geometry(g, op)
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


# --------------------------------------------------------------------------------------------------
# RESIZE_BILINEAR
#
# LiteRT's int8 kernel (reference_ops::ResizeBilinearInteger, run by BUILTIN_REF and the builtin
# resolver alike; TFLM runs the same function) works in 1/1024 steps of an input pixel:
#
#     scale_10 = ((1 << 10) * in + out / 2) / out                    (align_corners && out > 1:
#                                                                     in - 1 and out - 1 instead)
#     v        = half_pixel_centers ? i * scale_10 + scale_10 / 2 - 512 : i * scale_10
#     lo       = max(v / 1024, 0)       hi = min((v + 1023) / 1024, in - 1)   (C division: truncates)
#     frac     = v - 1024 * lo          (may be negative at i = 0 when upsampling with half pixels;
#                                        then lo = hi = 0 and the weights still sum to 1024)
#     acc      = sum of the four int8 neighbours times (1024 - fy | fy) * (1024 - fx | fx)
#     out      = (acc + (acc > 0 ? 1 << 19 : -(1 << 19))) / (1 << 20)    (double rounding: half away)
#              = (acc + (1 << 19)) >> 20                                 (TFLITE_SINGLE_ROUNDING)
#
# :func:`bilinear_tables` gives (lo, hi, frac) per output row / column; the kernel only accumulates.
# |acc| <= 128 * 2048 * 2048 < 2^31 (frac is in [-512, 1024)), so it accumulates in int32.
# No requantization, as for nearest: the int8 result keeps the input's parameters (the converter
# gives the output the input's; LiteRT's Prepare does not check them).


def _c_div(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncates toward zero) of int64 values by a positive ``b``."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def bilinear_scale_10(in_size: int, out_size: int, align_corners: bool) -> int:
    if align_corners and out_size > 1:
        return ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    return ((1 << 10) * in_size + out_size // 2) // out_size


def bilinear_tables(in_size: int, out_size: int, align_corners: bool,
                    half_pixel_centers: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, frac) for every output position, as ResizeBilinearInteger computes them."""
    s = bilinear_scale_10(in_size, out_size, align_corners)
    i = np.arange(out_size, dtype=np.int64)
    v = i * s + s // 2 - (1 << 9) if half_pixel_centers else i * s
    lo = np.maximum(_c_div(v, 1 << 10), 0)
    hi = np.minimum(_c_div(v + (1 << 10) - 1, 1 << 10), in_size - 1)
    return lo, hi, v - (1 << 10) * lo


# LiteRT 2.3's ResizeBilinearInteger rounds half away from zero (double rounding, measured in
# tests/kernels/test_resize.py); TFLM builds it the same way.
LITERT_SINGLE_ROUNDING = False


def resize_geometry(g: Graph, op: Op) -> tuple[tuple[int, int, int, int], tuple[int, int], bool, bool]:
    """((n, in_h, in_w, c), (out_h, out_w), align_corners, half_pixel_centers) of a RESIZE_BILINEAR or
    RESIZE_NEAREST_NEIGHBOR, checked (any element type)."""
    need(len(op.inputs) == 2, f"{op.kind} with {len(op.inputs)} inputs")
    x, size, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    need(x.dtype == y.dtype, f"input is {x.dtype}, output {y.dtype}")
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
    if op.kind == "RESIZE_BILINEAR":
        need(not (align and half), "align_corners together with half_pixel_centers (TFLite rejects it)")
    return (n, in_h, in_w, c), (out_h, out_w), align, half


def bilinear_fields(g: Graph, op: Op, ctx: LowerCtx) -> tuple:
    """The params fields of the integer RESIZE_BILINEAR kernels (int8, int16: offsets in elements)."""
    (n, in_h, in_w, c), (out_h, out_w), align, half = resize_geometry(g, op)
    ylo, yhi, yf = bilinear_tables(in_h, out_h, align, half)
    xlo, xhi, xf = bilinear_tables(in_w, out_w, align, half)
    # the reference does not clamp lo to in - 1: where its rounded scale overshoots (an output far
    # larger than the input) it reads past the row; we do not reproduce an out-of-bounds read
    need(int(ylo.max()) <= in_h - 1 and int(xlo.max()) <= in_w - 1,
         f"{in_h}x{in_w} -> {out_h}x{out_w}: LiteRT's 1/1024 scale reads past the input's edge")
    row, pix = in_w * c, c
    return (
        ("batches", n), ("in_image", in_h * in_w * c), ("out_h", out_h), ("out_w", out_w), ("depth", c),
        ("rounding", rounding_flag(ctx, litert_single=LITERT_SINGLE_ROUNDING)),
        ("y_lo", arr(op, "y_lo", (ylo * row).astype(np.int32), "int32_t")),
        ("y_hi", arr(op, "y_hi", (yhi * row).astype(np.int32), "int32_t")),
        ("y_frac", arr(op, "y_frac", yf.astype(np.int32), "int32_t")),
        ("x_lo", arr(op, "x_lo", (xlo * pix).astype(np.int32), "int32_t")),
        ("x_hi", arr(op, "x_hi", (xhi * pix).astype(np.int32), "int32_t")),
        ("x_frac", arr(op, "x_frac", xf.astype(np.int32), "int32_t")),
    )


@lowering("RESIZE_BILINEAR")
def lower_resize_bilinear(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    return Lowered(
        kernel="edgeq_resize_bilinear_s8",
        struct="edgeq_resize_bilinear_s8_params",
        source="resize",
        fields=bilinear_fields(g, op, ctx),
        args=(x.id, y.id),
    )
