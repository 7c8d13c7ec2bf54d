"""AVERAGE_POOL_2D and MAX_POOL_2D, int8, as TFLite's reference_integer_ops kernels.

Both references (LiteRT BUILTIN_REF and TFLM) run the same code: the window is clipped to the input
(padded taps are not counted), the average is ``(acc ± count/2) / count`` with C truncating division
(round half away from zero), and there is no requantization: the pooling Prepare only DCHECKs that
input and output share scale and zero point, and the converter always makes them equal. When they
do not, the references still copy raw values through, and so do we (bit-exactness).
"""

from __future__ import annotations

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import expect_dtype, need, scale, zp
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.geometry import raster_overlap_margin
from edgeq.passes.lower.quantmath import activation_range


def compute_padding(stride: int, in_size: int, filter_size: int, out_size: int, dilation: int = 1) -> int:
    """TFLite ComputePadding (padding.h): the padding before the first element, floor of half."""
    effective = (filter_size - 1) * dilation + 1
    pad = ((out_size - 1) * stride + effective - in_size) // 2
    return max(pad, 0)


def output_size(padding: str, in_size: int, filter_size: int, stride: int) -> int:
    """TFLite ComputeOutSize for dilation 1."""
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size - filter_size + stride) // stride


def pool_geometry(op: Op, x: Tensor, y: Tensor) -> dict:
    """A pooling op's checked geometry (any element type), as the raster dict of
    :func:`edgeq.passes.lower.int8.conv.raster_overlap_margin` (k_h/k_w: the filter) plus ``channels``."""
    need(len(x.shape) == 4 and len(y.shape) == 4, f"pooling needs 4-D NHWC tensors, got {x.shape}")
    a = op.attrs
    padding = a.get("padding", "VALID")
    need(padding in ("SAME", "VALID"), f"padding {padding}")
    sh, sw = int(a.get("stride_h", 1)), int(a.get("stride_w", 1))
    fh, fw = int(a.get("filter_height", 1)), int(a.get("filter_width", 1))
    need(sh > 0 and sw > 0 and fh > 0 and fw > 0, "stride and filter size must be positive")
    n, ih, iw, c = x.shape
    oh, ow = output_size(padding, ih, fh, sh), output_size(padding, iw, fw, sw)
    need((n, oh, ow, c) == tuple(y.shape),
         f"output shape {y.shape} does not match the pooling geometry {(n, oh, ow, c)}")
    ph = compute_padding(sh, ih, fh, oh) if padding == "SAME" else 0
    pw = compute_padding(sw, iw, fw, ow) if padding == "SAME" else 0
    # The reference fails (returns an error) on a window without any valid tap; refuse it here.
    for o, s, p, f, size in ((oh, sh, ph, fh, ih), (ow, sw, pw, fw, iw)):
        for i in range(o):
            origin = i * s - p
            need(min(f, size - origin) > max(0, -origin), "a pooling window lies entirely in the padding")
    return dict(batches=n, in_h=ih, in_w=iw, out_h=oh, out_w=ow, k_h=fh, k_w=fw, stride_h=sh, stride_w=sw,
                dilation_h=1, dilation_w=1, pad_h=ph, pad_w=pw, channels=c)


def pool_fields(geo: dict, lo, hi) -> tuple:
    """The fields of every pooling params struct (edgeq_pool_s8/s16/f32_params), in order."""
    return (
        ("batches", geo["batches"]), ("in_h", geo["in_h"]), ("in_w", geo["in_w"]), ("channels", geo["channels"]),
        ("out_h", geo["out_h"]), ("out_w", geo["out_w"]), ("filter_h", geo["k_h"]), ("filter_w", geo["k_w"]),
        ("stride_h", geo["stride_h"]), ("stride_w", geo["stride_w"]), ("pad_h", geo["pad_h"]),
        ("pad_w", geo["pad_w"]), ("act_min", lo), ("act_max", hi),
    )


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D")
def lower_pool(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(y, "int8")
    geo = pool_geometry(op, x, y)
    # Prepare: CalculateActivationRangeQuantized on the output tensor.
    lo, hi = activation_range(op.attrs.get("fused_activation_function", "NONE"), scale(y), zp(y))
    kernel = "edgeq_avg_pool_s8" if op.kind == "AVERAGE_POOL_2D" else "edgeq_max_pool_s8"
    return Lowered(
        kernel=kernel,
        struct="edgeq_pool_s8_params",
        source="pooling",
        fields=pool_fields(geo, lo, hi),
        args=(x.id, y.id),
        # pooling.c: pixels in raster order, each channel's byte written right after reading that
        # channel of the window (the window origin is the first valid tap, as in conv.c)
        overlap_margin=raster_overlap_margin(geo, geo["channels"], geo["channels"]),
    )
