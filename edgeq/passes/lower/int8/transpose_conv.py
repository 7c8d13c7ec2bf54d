"""TRANSPOSE_CONV, int8, as TFLite's reference kernel (LiteRT BUILTIN_REF and TFLM agree).

Measured against LiteRT 2.3 (BUILTIN_REF) and TFLM (tests/kernels/test_transpose_conv.py):
  - requantization uses double rounding (gemmlowp) in *both* references, unlike FULLY_CONNECTED;
  - the per-channel multiplier is all-double: (double)input_scale * (double)filter_scale /
    (double)output_scale (PopulateConvolutionQuantizationParams), per-tensor weights broadcast;
  - the fused activation in the options is applied (CalculateActivationRangeQuantized);
  - the bias (4th input, int32) is added to the int32 accumulator before requantization.
Inputs: (output_shape int32, weights [O, KH, KW, I], input NHWC, optional bias).
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import (arr, channel_multipliers, const_bias, expect_dtype, fused_clamp, need,
                                       requant_fields, rounding_flag, tensor_array, zp)
from edgeq.passes.lower.registry import LowerCtx, lowering


def _out_size(padding: str, image: int, filt: int, stride: int) -> int:
    """ComputeOutSize (tensorflow/lite/kernels/padding.h), dilation 1."""
    if stride == 0:
        return 0
    if padding == "SAME":
        return (image + stride - 1) // stride
    if padding == "VALID":
        return (image + stride - filt) // stride
    return 0


def transpose_conv_padding(padding: str, stride: int, out_size: int, filt: int) -> int:
    """The leading padding TFLite uses for TRANSPOSE_CONV along one axis.

    Both references call ComputePaddingHeightWidth with the op's *output* size as the "input" size
    of the forward convolution; the padding is ((conv_out - 1) * stride + filt - out_size) / 2 with
    conv_out = ComputeOutSize(padding, out_size, filt, stride), clamped at 0 (C division truncates).
    """
    conv_out = _out_size(padding, out_size, filt, stride)
    total = (conv_out - 1) * stride + filt - out_size
    return max(total, 0) // 2


@lowering("TRANSPOSE_CONV")
def lower_transpose_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    need(len(op.inputs) in (3, 4), f"TRANSPOSE_CONV with {len(op.inputs)} inputs")
    w, x, y = g.tensor(op.inputs[1]), g.tensor(op.inputs[2]), g.tensor(op.outputs[0])
    for t in (x, w, y):
        expect_dtype(t, "int8")
    need(w.is_const, "weights are not constant")
    need(len(x.shape) == 4 and len(w.shape) == 4 and len(y.shape) == 4,
         "input, weights and output must be 4-D")
    # LiteRT sizes the output from the output_shape input, TFLM from the output tensor: with a
    # constant output_shape both agree; a computed one must at least leave a static output shape.
    need(all(d > 0 for d in y.shape), f"output shape {y.shape} is not static")
    shape_t = g.tensor(op.inputs[0])
    if shape_t.is_const:
        need(tuple(int(v) for v in np.asarray(shape_t.data).reshape(-1)) == tuple(y.shape),
             f"output_shape {np.asarray(shape_t.data).tolist()} differs from the output tensor {y.shape}")
    out_c, k_h, k_w, in_c = w.shape
    n, in_h, in_w, x_c = x.shape
    yn, out_h, out_w, y_c = y.shape
    need(x_c == in_c, f"input has {x_c} channels, weights expect {in_c}")
    need(y_c == out_c, f"output has {y_c} channels, weights give {out_c}")
    need(yn == n, "input and output batch differ")
    need(w.quant is None or len(w.quant.scale) == 1 or w.quant.axis == 0, "per-channel weights not quantized along axis 0")
    padding = op.attrs.get("padding", "SAME")
    need(padding in ("SAME", "VALID"), f"padding {padding}")
    s_h, s_w = int(op.attrs.get("stride_h", 1)), int(op.attrs.get("stride_w", 1))
    need(s_h >= 1 and s_w >= 1, f"stride {s_h}x{s_w}")
    lo, hi = fused_clamp(op, y)
    mults, shifts = channel_multipliers(x, w, y, out_c, broadcast=True)
    b = const_bias(g, op, 3, out_c)
    bias = tensor_array(g, b.id) if b is not None else None
    return Lowered(
        kernel="edgeq_transpose_conv_s8",
        struct="edgeq_transpose_conv_s8_params",
        source="transpose_conv",
        fields=(
            ("batches", n), ("in_h", in_h), ("in_w", in_w), ("in_c", in_c),
            ("out_h", out_h), ("out_w", out_w), ("out_c", out_c), ("k_h", k_h), ("k_w", k_w),
            ("stride_h", s_h), ("stride_w", s_w),
            ("pad_h", transpose_conv_padding(padding, s_h, out_h, k_h)),
            ("pad_w", transpose_conv_padding(padding, s_w, out_w, k_w)),
            ("input_offset", -zp(x)), *requant_fields(zp(y), lo, hi, rounding_flag(ctx, litert_single=False)),
            ("weights", tensor_array(g, w.id)), ("bias", bias),
            ("mult", arr(op, "mult", np.array(mults, np.int32), "int32_t")),
            ("shift", arr(op, "shift", np.array(shifts, np.int32), "int32_t")),
        ),
        args=(x.id, y.id),
        scratch_bytes=4 * y.numel,  # = edgeq_transpose_conv_s8_scratch_bytes (transpose_conv.h)
    )
