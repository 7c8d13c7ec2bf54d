"""CONV_2D, int8 (per-channel or per-tensor weights), as TFLite's reference kernels (firmware/kernels/conv.c).

Follows LiteRT's / TFLM's Prepare:
  * padding: ComputePaddingHeightWidth (tflite/kernels/padding.h, see edgeq.passes.lower.geometry);
  * multipliers: PopulateConvolutionQuantizationParams, all in double:
    (double)input_scale * (double)filter_scale[c] / (double)output_scale -> QuantizeMultiplier;
  * clamps: CalculateActivationRangeQuantized.
Eval is reference_integer_ops::ConvPerChannel (per-tensor weights take the same path with the single
scale broadcast). Requantization is MultiplyByQuantizedMultiplier: LiteRT's build rounds once
(TFLITE_SINGLE_ROUNDING), TFLM rounds twice — measured in tests/kernels/test_conv.py.

Generation-time extra: ``acc_init[oc] = bias[oc] + input_offset * sum(w[oc])`` lets the kernels skip
the per-tap ``+ input_offset`` for windows that lie entirely inside the input (integer sums are
associative, so this is bit-exact). DEPTHWISE_CONV_2D (depthwise_conv.py) shares these helpers.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import ArrayRef, Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import (arr, channel_multipliers, const_bias, expect_dtype, fused_clamp, need,
                                       requant_fields, rounding_flag, tensor_array, zp)
from edgeq.passes.lower.geometry import conv_layout, raster_overlap_margin, window_fields
from edgeq.passes.lower.registry import LowerCtx, lowering

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def conv_quant(g: Graph, op: Op, x: Tensor, w: Tensor, y: Tensor, out_c: int, quant_axis: int):
    """Multipliers/shifts (PopulateConvolutionQuantizationParams), activation clamps, bias."""
    for t in (x, w, y):
        expect_dtype(t, "int8")
    need(w.is_const, "filter is not constant")
    need(w.quant is not None, "filter has no quantization parameters")
    if len(w.quant.scale) > 1:
        need(w.quant.axis == quant_axis, f"filter quantized along axis {w.quant.axis}, not {quant_axis}")
    mults, shifts = channel_multipliers(x, w, y, out_c)
    lo, hi = fused_clamp(op, y)
    return mults, shifts, lo, hi, const_bias(g, op, 2, out_c)


def acc_init_values(op: Op, bias: Tensor | None, wsum: np.ndarray, input_offset: int):
    """bias + input_offset * sum(w) per output channel, or None if it does not fit int32."""
    init = wsum.astype(np.int64) * int(input_offset)
    if bias is not None:
        init = init + bias.data.reshape(-1).astype(np.int64)
    if init.size and (init.min() < INT32_MIN or init.max() > INT32_MAX):
        return None
    return arr(op, "acc_init", init.astype(np.int32), "int32_t")


def conv_tail(g: Graph, op: Op, ctx: LowerCtx, x: Tensor, y: Tensor, mults, shifts, lo, hi, bias, acc_init):
    return (
        ("input_offset", -zp(x)), *requant_fields(zp(y), lo, hi, rounding_flag(ctx, litert_single=False)),
        ("per_channel", int(len(mults) > 1)),
    ), (
        ("bias", tensor_array(g, bias.id) if bias is not None else None),
        ("acc_init", acc_init),
        ("mult", arr(op, "mult", np.array(mults, np.int32), "int32_t")),
        ("shift", arr(op, "shift", np.array(shifts, np.int32), "int32_t")),
    )


# --- CONV_2D -----------------------------------------------------------------------------------------

def _conv_dsp_weights(op: Op, w: np.ndarray) -> tuple[int, ArrayRef]:
    """(k_pad, wq): the filter repacked for the DSP path (layout in firmware/kernels/conv.h)."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    k_pad, oc_pad = -(-k // 8) * 8, -(-out_c // 2) * 2  # the K loop does 8 rows per iteration
    m = np.zeros((oc_pad, k_pad), np.int16)
    m[:out_c, :k] = w.reshape(out_c, k)
    # [pair, j, block, half, lane] with row t = 4*block + 2*half + lane -> [pair, block, j, lane, half]
    m = m.reshape(oc_pad // 2, 2, k_pad // 4, 2, 2).transpose(0, 2, 1, 4, 3)
    words = np.ascontiguousarray(m).reshape(-1).astype("<i2").view("<i4").astype(np.int32)
    return k_pad, arr(op, "wq", words, "int32_t")


def _conv_dsp_requant(op: Op, w: np.ndarray, bias: Tensor | None, mults, shifts, output_offset: int):
    """The DSP path's per-channel {m, s, e, rb} (conv.h ``dsp_rq``), or None when it would not be exact.

    With a = acc << l (l = max(shift, 0)), e = -min(shift, 0) >= 1: SRDHM(a, m) = SMMULR(2a, m) for m >= 0
    while 2a fits int32, and RoundingDivideByPOT(t, e) + out_off = (t - (t < 0) + 2^(e-1) + out_off * 2^e) >> e
    while that sum fits. Reachable accumulators: |acc| <= |bias| + 255 * sum|w| (|x + input_offset| <= 255,
    padding taps contribute 0)."""
    out_c = w.shape[0]
    m = np.broadcast_to(np.array(mults, np.int64), (out_c,))
    sh = np.broadcast_to(np.array(shifts, np.int64), (out_c,))
    left, e = np.maximum(sh, 0), np.maximum(-sh, 0)
    bound = 255 * np.abs(w.reshape(out_c, -1).astype(np.int64)).sum(axis=1)
    if bias is not None:
        bound = bound + np.abs(bias.data.reshape(-1).astype(np.int64))
    if (m < 0).any() or (e < 1).any() or (e > 30).any():
        return None
    a_max = bound << left
    rb = (np.int64(1) << (e - 1)) + (np.int64(output_offset) << e)
    if (2 * a_max).max() >= (1 << 31) or (a_max + 1 + np.abs(rb)).max() >= (1 << 31):
        return None
    rq = np.stack([m, left + 1, e, rb], axis=1).astype(np.int32)
    return arr(op, "dsp_rq", rq.reshape(-1), "int32_t")


@lowering("CONV_2D")
def lower_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    geo, in_c, out_c, fin = conv_layout(op, x, w, y)
    groups = in_c // fin
    mults, shifts, lo, hi, bias = conv_quant(g, op, x, w, y, out_c, quant_axis=0)
    wsum = w.data.reshape(out_c, -1).astype(np.int64).sum(axis=1)
    acc_init = acc_init_values(op, bias, wsum, -zp(x))
    head, tail = conv_tail(g, op, ctx, x, y, mults, shifts, lo, hi, bias, acc_init)
    # DSP path (2 pixels x 2 channels of __smlad on a 2-pixel im2col buffer): starts every pixel from
    # acc_init, so it needs one, and its requantization assumes non-negative multipliers (always, from
    # QuantizeMultiplier) and double rounding. Without it: edgeq_conv_s8, no scratch.
    # ctx.cpu "portable": no DSP constants; "dsp": the int8 weights are not emitted when the DSP path
    # (which reads only wq) is taken.
    k_pad, wq, rq, kernel, scratch = 0, None, None, "edgeq_conv_s8", 0
    if ctx.cpu == "mve" and groups == 1 and acc_init is not None and out_c >= 4 and \
            (geo["dilation_h"], geo["dilation_w"]) == (1, 1):  # the Helium body (conv_mve.h): int8 weights
        k_pad = -(-w.data[0].size // 8) * 8  # its im2col window needs K <= 4 * k_pad bytes; no DSP pack
        kernel, scratch = "edgeq_conv_s8_im2col", 4 * k_pad
    elif ctx.cpu not in ("portable", "mve") and groups == 1 and acc_init is not None and min(mults) >= 0:
        k_pad, wq = _conv_dsp_weights(op, w.data)
        rq = _conv_dsp_requant(op, w.data, bias, mults, shifts, zp(y))
        kernel, scratch = "edgeq_conv_s8_im2col", 4 * k_pad  # = edgeq_conv_s8_im2col_scratch_bytes (conv.h)
    weights = None if (ctx.cpu == "dsp" and wq is not None) else tensor_array(g, w.id)
    return Lowered(
        kernel=kernel,
        struct="edgeq_conv_s8_params",
        source="conv",
        fields=(
            *window_fields(geo, in_c, out_c, ("filter_in_c", fin)),
            *head,
            ("weights", weights),
            *tail,
            ("k_pad", k_pad), ("wq", wq), ("dsp_rq", rq),
        ),
        args=(x.id, y.id),
        scratch_bytes=scratch,
        overlap_margin=raster_overlap_margin(geo, in_c, out_c),
    )


# --- DEPTHWISE_CONV_2D -------------------------------------------------------------------------------
