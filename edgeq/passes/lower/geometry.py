"""Window geometry shared by every convolution, depthwise convolution and pooling lowering (int8, int16,
float32): TFLite's padding.h, checked NHWC shapes, and the overlap margin of raster-order kernels."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Op, Tensor
from edgeq.passes.lower.common import need
from edgeq.passes.lower.registry import LowerCtx


# --- TFLite padding.h ------------------------------------------------------------------------------

def compute_out_size(padding: str, image: int, filt: int, stride: int, dilation: int) -> int:
    """ComputeOutSize."""
    eff = (filt - 1) * dilation + 1
    if stride == 0:
        return 0
    if padding == "SAME":
        return (image + stride - 1) // stride
    if padding == "VALID":
        return (image + stride - eff) // stride
    return 0


def compute_padding(stride: int, dilation: int, image: int, filt: int, out: int) -> int:
    """ComputePaddingWithOffset (the offset only matters for TRANSPOSE_CONV): the leading padding."""
    eff = (filt - 1) * dilation + 1
    total = max((out - 1) * stride + eff - image, 0)
    return total // 2  # total >= 0: C++ integer division agrees with floor division


# --- overlapping in-place ----------------------------------------------------------------------------

def tap_range(origin: np.ndarray, dil: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """edgeq_tap_range (edgeq_common.h), vectorised: taps [lo, hi) whose coordinate origin + tap * dil is in [0, n)."""
    lo = np.where(origin >= 0, 0, (-origin + dil - 1) // dil)
    hi = np.where(origin > n - 1, 0, np.minimum((n - 1 - origin) // dil + 1, k))
    return np.minimum(lo, hi), hi


def raster_overlap_margin(geo: dict, in_c: int, out_c: int, in_elem: int = 1, out_elem: int = 1,
                          per_row: bool = False) -> int:
    """``Lowered.overlap_margin`` of a raster-order NHWC window kernel (conv, depthwise conv, pooling).

    Kernel contract (read in conv.c, depthwise_conv.c, pooling.c, portable and DSP paths): output pixels
    p = (b, oy, ox) are produced in increasing p; every byte of pixel p is written after some reads of
    pixel p's window and before any read of a later pixel's window (the DSP conv reads the windows of a
    pixel pair, then writes both: earlier than this order needs, so it is covered too); the window of
    pixel p reads only input bytes at or above its first valid tap (row iy0 + ky0 * dh, column
    ix0 + kx0 * dw, channel 0) - no read-ahead, nothing outside the valid taps.
    So the output may start ``m`` bytes below the input when, for every p, the last byte of pixel p,
    at (p + 1) * pixel_bytes - 1 - m relative to the input, lies below the lowest input byte any pixel
    q >= p still reads: m = max_p ((p + 1) * out_c * out_elem - min_{q >= p} first_read(q)), at least 0.
    Conservative (it assumes a pixel's window may be re-read after any of its own bytes is written, as
    the portable conv does per output channel); tests/unit/test_overlap.py simulates each kernel's
    exact read/write order against it.
    ``per_row``: the same for a kernel that produces whole output rows (b, oy) in increasing order, writing
    a row's bytes in any order between reads of that row's windows (the weight-only conv, channel by
    channel within a row; tests/kernels/test_weight_only_kernels.py simulates it).
    """
    b = np.arange(geo["batches"], dtype=np.int64)[:, None, None]
    oy = np.arange(geo["out_h"], dtype=np.int64)[None, :, None]
    ox = np.arange(geo["out_w"], dtype=np.int64)[None, None, :]
    iy0 = oy * geo["stride_h"] - geo["pad_h"]
    ix0 = ox * geo["stride_w"] - geo["pad_w"]
    ky0, ky1 = tap_range(iy0, geo["dilation_h"], geo["k_h"], geo["in_h"])
    kx0, kx1 = tap_range(ix0, geo["dilation_w"], geo["k_w"], geo["in_w"])
    row = iy0 + ky0 * geo["dilation_h"]
    col = ix0 + kx0 * geo["dilation_w"]
    first = ((b * geo["in_h"] + row) * geo["in_w"] + col) * (in_c * in_elem)
    empty = (ky0 >= ky1) | (kx0 >= kx1)  # a window without valid taps reads nothing
    big = np.iinfo(np.int64).max // 4
    first = np.where(empty, big, first)
    first = (first.min(axis=2) if per_row else first).reshape(-1)  # per_row: a row reads from its lowest window
    suffix_min = np.minimum.accumulate(first[::-1])[::-1]
    ends = (np.arange(first.size, dtype=np.int64) + 1) * (out_c * out_elem * (geo["out_w"] if per_row else 1))
    reads = suffix_min < big
    if not reads.any():
        return 0
    return max(int((ends[reads] - suffix_min[reads]).max()), 0)


# --- shared checks -----------------------------------------------------------------------------------

def window_geometry(op: Op, x: Tensor, y: Tensor, k_h: int, k_w: int) -> dict:
    a = op.attrs
    padding = a.get("padding", "SAME")
    need(padding in ("SAME", "VALID"), f"padding {padding}")
    sh, sw = int(a.get("stride_h", 0)), int(a.get("stride_w", 0))
    dh, dw = int(a.get("dilation_h_factor", 1)), int(a.get("dilation_w_factor", 1))
    need(sh > 0 and sw > 0, f"stride {sh}x{sw}")
    need(dh > 0 and dw > 0, f"dilation {dh}x{dw}")
    need(len(x.shape) == 4 and len(y.shape) == 4, f"input {x.shape} / output {y.shape} are not NHWC")
    n, in_h, in_w, _ = x.shape
    out_h = compute_out_size(padding, in_h, k_h, sh, dh)
    out_w = compute_out_size(padding, in_w, k_w, sw, dw)
    need(out_h > 0 and out_w > 0, f"empty output ({out_h}x{out_w})")
    need(tuple(y.shape[:3]) == (n, out_h, out_w),
         f"output shape {y.shape} does not match the computed {(n, out_h, out_w)}")
    return dict(
        batches=n, in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w,
        stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
        pad_h=compute_padding(sh, dh, in_h, k_h, out_h), pad_w=compute_padding(sw, dw, in_w, k_w, out_w),
    )


def conv_layout(op: Op, x: Tensor, w: Tensor, y: Tensor) -> tuple[dict, int, int, int]:
    """CONV_2D's checked shapes (any element type): filter [out_c, kh, kw, filter_in_c], grouped when
    filter_in_c < in_c. Returns (geometry, in_c, out_c, filter_in_c)."""
    need(len(w.shape) == 4, f"filter shape {w.shape} is not [out_c, kh, kw, in_c]")
    out_c, k_h, k_w, fin = w.shape
    geo = window_geometry(op, x, y, k_h, k_w)
    in_c = x.shape[3]
    need(y.shape[3] == out_c, f"output has {y.shape[3]} channels, filter {out_c}")
    need(fin > 0 and in_c % fin == 0, f"input channels {in_c} not a multiple of filter depth {fin}")
    need(out_c % (in_c // fin) == 0, f"{out_c} output channels do not split into {in_c // fin} groups")
    return geo, in_c, out_c, fin


def depthwise_layout(op: Op, ctx: LowerCtx, x: Tensor, w: Tensor, y: Tensor) -> tuple[dict, int, int, int]:
    """DEPTHWISE_CONV_2D's checked shapes (any element type): filter [1, kh, kw, out_c]. Returns
    (geometry, in_c, out_c, depth multiplier)."""
    need(len(w.shape) == 4 and w.shape[0] == 1, f"filter shape {w.shape} is not [1, kh, kw, out_c]")
    _, k_h, k_w, out_c = w.shape
    geo = window_geometry(op, x, y, k_h, k_w)
    in_c = x.shape[3]
    need(y.shape[3] == out_c, f"output has {y.shape[3]} channels, filter {out_c}")
    # LiteRT derives the multiplier from the shapes (ComputeDepthMultiplier); TFLM reads the option.
    need(in_c > 0 and out_c % in_c == 0, f"filter channels {out_c} not a multiple of input channels {in_c}")
    dm = out_c // in_c
    if ctx.rounding == "tflm":
        attr_dm = int(op.attrs.get("depth_multiplier", 0))
        need(attr_dm == dm, f"depth_multiplier option {attr_dm} disagrees with the shapes ({dm})")
    return geo, in_c, out_c, dm


def window_fields(geo: dict, in_c: int, out_c: int, extra: tuple[str, int]) -> tuple:
    """The leading fields every convolution params struct shares, in order: sizes, kernel size,
    ``extra`` (filter_in_c or depth_mult), strides, dilations and padding."""
    return (
        ("batches", geo["batches"]), ("in_h", geo["in_h"]), ("in_w", geo["in_w"]), ("in_c", in_c),
        ("out_h", geo["out_h"]), ("out_w", geo["out_w"]), ("out_c", out_c),
        ("k_h", geo["k_h"]), ("k_w", geo["k_w"]), extra,
        ("stride_h", geo["stride_h"]), ("stride_w", geo["stride_w"]),
        ("dilation_h", geo["dilation_h"]), ("dilation_w", geo["dilation_w"]),
        ("pad_h", geo["pad_h"]), ("pad_w", geo["pad_w"]),
    )
