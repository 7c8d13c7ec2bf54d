"""CONV_2D and DEPTHWISE_CONV_2D, int8 (per-channel or per-tensor weights), as TFLite's reference kernels.

Both follow LiteRT's / TFLM's Prepare:
  * padding: ComputePaddingHeightWidth (tflite/kernels/padding.h);
  * multipliers: PopulateConvolutionQuantizationParams, all in double:
    (double)input_scale * (double)filter_scale[c] / (double)output_scale -> QuantizeMultiplier;
  * clamps: CalculateActivationRangeQuantized.
Eval is reference_integer_ops::ConvPerChannel / DepthwiseConvPerChannel (per-tensor weights take the
same path with the single scale broadcast). Requantization is MultiplyByQuantizedMultiplier: LiteRT's
build rounds once (TFLITE_SINGLE_ROUNDING), TFLM rounds twice — measured in tests/kernels/test_conv.py
and test_depthwise_conv.py.

Generation-time extra: ``acc_init[oc] = bias[oc] + input_offset * sum(w[oc])`` lets the kernels skip
the per-tap ``+ input_offset`` for windows that lie entirely inside the input (integer sums are
associative, so this is bit-exact).
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import ArrayRef, Graph, Lowered, Op, Tensor
from edgeq.passes.lower import (LowerCtx, arr, channel_multipliers, const_bias, expect_dtype, fused_clamp,
                                lowering, need, rounding_flag, tensor_array, zp)

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


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

def _tap_range(origin: np.ndarray, dil: int, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """conv_tap_range (conv.c), vectorised: taps [lo, hi) whose coordinate origin + tap * dil is in [0, n)."""
    lo = np.where(origin >= 0, 0, (-origin + dil - 1) // dil)
    hi = np.where(origin > n - 1, 0, np.minimum((n - 1 - origin) // dil + 1, k))
    return np.minimum(lo, hi), hi


def raster_overlap_margin(geo: dict, in_c: int, out_c: int, in_elem: int = 1, out_elem: int = 1) -> int:
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
    """
    b = np.arange(geo["batches"], dtype=np.int64)[:, None, None]
    oy = np.arange(geo["out_h"], dtype=np.int64)[None, :, None]
    ox = np.arange(geo["out_w"], dtype=np.int64)[None, None, :]
    iy0 = oy * geo["stride_h"] - geo["pad_h"]
    ix0 = ox * geo["stride_w"] - geo["pad_w"]
    ky0, ky1 = _tap_range(iy0, geo["dilation_h"], geo["k_h"], geo["in_h"])
    kx0, kx1 = _tap_range(ix0, geo["dilation_w"], geo["k_w"], geo["in_w"])
    row = iy0 + ky0 * geo["dilation_h"]
    col = ix0 + kx0 * geo["dilation_w"]
    first = ((b * geo["in_h"] + row) * geo["in_w"] + col) * (in_c * in_elem)
    empty = (ky0 >= ky1) | (kx0 >= kx1)  # a window without valid taps reads nothing
    big = np.iinfo(np.int64).max // 4
    first = np.where(empty, big, first).reshape(-1)
    suffix_min = np.minimum.accumulate(first[::-1])[::-1]
    ends = (np.arange(first.size, dtype=np.int64) + 1) * (out_c * out_elem)
    reads = suffix_min < big
    if not reads.any():
        return 0
    return max(int((ends[reads] - suffix_min[reads]).max()), 0)


# --- shared checks -----------------------------------------------------------------------------------

def _geometry(op: Op, x: Tensor, y: Tensor, k_h: int, k_w: int) -> dict:
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
    geo = _geometry(op, x, y, k_h, k_w)
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
    geo = _geometry(op, x, y, k_h, k_w)
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


def _quant(g: Graph, op: Op, x: Tensor, w: Tensor, y: Tensor, out_c: int, quant_axis: int):
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


def _acc_init(op: Op, bias: Tensor | None, wsum: np.ndarray, input_offset: int):
    """bias + input_offset * sum(w) per output channel, or None if it does not fit int32."""
    init = wsum.astype(np.int64) * int(input_offset)
    if bias is not None:
        init = init + bias.data.reshape(-1).astype(np.int64)
    if init.size and (init.min() < INT32_MIN or init.max() > INT32_MAX):
        return None
    return arr(op, "acc_init", init.astype(np.int32), "int32_t")


def _tail(g: Graph, op: Op, ctx: LowerCtx, x: Tensor, y: Tensor, mults, shifts, lo, hi, bias, acc_init):
    return (
        ("input_offset", -zp(x)), ("output_offset", zp(y)), ("act_min", lo), ("act_max", hi),
        ("per_channel", int(len(mults) > 1)), ("rounding", rounding_flag(ctx, litert_single=False)),
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
    """The DSP path's per-channel {m, s, e, rb} (conv.h ``rq``), or None when it would not be exact.

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
    return arr(op, "rq", rq.reshape(-1), "int32_t")


@lowering("CONV_2D")
def lower_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    geo, in_c, out_c, fin = conv_layout(op, x, w, y)
    groups = in_c // fin
    mults, shifts, lo, hi, bias = _quant(g, op, x, w, y, out_c, quant_axis=0)
    wsum = w.data.reshape(out_c, -1).astype(np.int64).sum(axis=1)
    acc_init = _acc_init(op, bias, wsum, -zp(x))
    head, tail = _tail(g, op, ctx, x, y, mults, shifts, lo, hi, bias, acc_init)
    # DSP path (2 pixels x 2 channels of __smlad on a 2-pixel im2col buffer): starts every pixel from
    # acc_init, so it needs one, and its requantization assumes non-negative multipliers (always, from
    # QuantizeMultiplier) and double rounding. Without it: edgeq_conv_s8, no scratch.
    # ctx.cpu "portable": no DSP constants; "dsp": the int8 weights are not emitted when the DSP path
    # (which reads only wq) is taken.
    k_pad, wq, rq, kernel, scratch = 0, None, None, "edgeq_conv_s8", 0
    if ctx.cpu != "portable" and groups == 1 and acc_init is not None and min(mults) >= 0:
        k_pad, wq = _conv_dsp_weights(op, w.data)
        rq = _conv_dsp_requant(op, w.data, bias, mults, shifts, zp(y))
        kernel, scratch = "edgeq_conv_s8_im2col", 4 * k_pad
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
            ("k_pad", k_pad), ("wq", wq), ("rq", rq),
        ),
        args=(x.id, y.id),
        scratch_bytes=scratch,
        overlap_margin=raster_overlap_margin(geo, in_c, out_c),
    )


# --- DEPTHWISE_CONV_2D -------------------------------------------------------------------------------

DW_DSP_MAX_C = 256  # 4 * EDGEQ_DW_ZBUF_WORDS in firmware/kernels/depthwise_conv.c


def _dw_dsp_pack(op: Op, w: np.ndarray, bias: Tensor | None, acc_init, mults, shifts, input_offset: int,
                 output_offset: int, dm: int, rounding: int):
    """The Cortex-M DSP path's constants (see depthwise_conv.h ``dsp_pack``), or None when that path
    would not be bit-exact or does not apply.

    Per channel, with l = left shift, e = right shift (>= 1), a = acc << l (the reference's shifted
    accumulator) and acc2 = 2a = acc << (l + 1): SRDHM(a, m) = (2a*m + 2^31) >> 32 (m > 0), and
    RDBPOT(x, e) + out_off = (x + 2^(e-1) - (a < 0) + out_off * 2^e) >> e (x = 0 whenever a < 0 but
    x >= 0 does not change the result). The kernel evaluates it with SMMLAR, which is exact while
    |acc2| < 2^31 for every reachable accumulator: checked here from |x + in_off| <= 255, the bias and
    the weights. Weights and acc_init are stored pre-shifted by l + 1 (int16 / int32). When out_c % 4 != 0
    the last group is padded with zero lanes (the kernel stores only the real channels of that group)."""
    k_h, k_w, out_c = w.shape[1], w.shape[2], w.shape[3]
    taps = k_h * k_w
    padded_c = out_c + (-out_c % 4)
    if (k_h, k_w) != (3, 3) or dm != 1 or padded_c > DW_DSP_MAX_C or acc_init is None or rounding != 0:
        return None
    m = np.array(mults, np.int64)
    sh = np.array(shifts, np.int64)
    if len(m) == 1:
        m, sh = np.repeat(m, out_c), np.repeat(sh, out_c)
    left = np.maximum(sh, 0)
    e = np.maximum(-sh, 0)
    if (m <= 0).any() or (e < 1).any() or (e > 24).any() or (left > 6).any():
        return None
    s = (left + 1)
    wt = w.reshape(taps, out_c).astype(np.int64)
    w2 = wt << s
    init = acc_init.values.astype(np.int64)
    init2 = init << s
    b = bias.data.reshape(-1).astype(np.int64) if bias is not None else np.zeros(out_c, np.int64)
    wabs = np.abs(wt).sum(axis=0)
    # reachable accumulators: bias + sum (x + off) * w, and the kernel's partial sums acc_init + sum x * w
    bound = np.maximum(np.abs(b) + 255 * wabs, np.abs(init) + 128 * wabs) << s
    if (np.abs(w2) > 32767).any() or bound.max() >= (1 << 31):
        return None
    rb = (np.int64(1) << (e - 1)) + (np.int64(output_offset) << e)
    if np.abs(rb).max() >= (1 << 29):
        return None
    pad = -out_c % 4  # the last group's missing lanes: zero weights and accumulator, channel 0's params
    if pad:
        w2 = np.concatenate([w2, np.zeros((taps, pad), np.int64)], axis=1)
        init2 = np.concatenate([init2, np.zeros(pad, np.int64)])
        m, rb, e = (np.concatenate([v, np.repeat(v[:1], pad)]) for v in (m, rb, e))
    groups = []
    for g in range(0, out_c + pad, 4):
        cols = [g, g + 1, g + 2, g + 3]
        words = list(init2[cols])
        for t in range(taps):
            q = w2[t, cols] & 0xFFFF
            words += [q[0] | (q[2] << 16), q[1] | (q[3] << 16)]
        words += list(m[cols]) + list(rb[cols]) + list(e[cols])
        groups.append(words)
    packed = np.array(groups, np.int64).reshape(-1)
    packed = ((packed + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
    return arr(op, "dsp_pack", packed, "int32_t")

@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    geo, in_c, out_c, dm = depthwise_layout(op, ctx, x, w, y)
    mults, shifts, lo, hi, bias = _quant(g, op, x, w, y, out_c, quant_axis=3)
    wsum = w.data.reshape(-1, out_c).astype(np.int64).sum(axis=0)
    acc_init = _acc_init(op, bias, wsum, -zp(x))
    head, tail = _tail(g, op, ctx, x, y, mults, shifts, lo, hi, bias, acc_init)
    pack = None if ctx.cpu == "portable" else _dw_dsp_pack(op, w.data, bias, acc_init, mults, shifts, -zp(x),
                                                           zp(y), dm, rounding_flag(ctx, litert_single=False))
    weights = None if (ctx.cpu == "dsp" and pack is not None) else tensor_array(g, w.id)
    return Lowered(
        kernel="edgeq_depthwise_conv_s8",
        struct="edgeq_depthwise_conv_s8_params",
        source="depthwise_conv",
        fields=(
            *window_fields(geo, in_c, out_c, ("depth_mult", dm)),
            *head,
            ("weights", weights),
            *tail,
            ("dsp_pack", pack),
        ),
        args=(x.id, y.id),
        overlap_margin=raster_overlap_margin(geo, in_c, out_c),
    )
