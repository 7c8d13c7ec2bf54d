"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED with int16 activations and int8 weights (TFLite 16x8).

As LiteRT's reference_integer_ops 16x8 kernels (ConvPerChannel / DepthwiseConvPerChannel /
FullyConnected on int16 data, int8 filter, int64 bias): the input zero point is 0 (no input offset), the
accumulator is int64, and requantization is MultiplyByQuantizedMultiplier(int64_t, ...), which reduces
the q31 multiplier to 16 bits and rounds once (see firmware/kernels/int16_conv.h). Multipliers come from
the same Prepare as int8 (double input_scale * filter_scale / output_scale -> QuantizeMultiplier);
the reduced multiplier and total shift are computed here. LiteRT's FULLY_CONNECTED differs: it uses the
full q31 multiplier with single rounding; TFLM's FULLY_CONNECTED uses the reduced one (rounding "tflm").
Bit-exactness is measured in tests/kernels/test_int16_conv.py.

Clustered filters (``--scheme int16x8 --clusters K``): a filter whose output channels each hold at most 16
distinct int8 values (128 in a model edgeq clustered: the int8 lowerings' ``cb_most``) and at least CB_MIN_K
weights, where that takes fewer bytes, is stored as codebook indices, output-channel-major, as wide as the channel
with the most values needs (2 bits for at most 4 values, 3 for 8, 4 for 16, ..., 7 for 128; the int8 path's
widths), one little-endian bit stream (the int8 lowering's :func:`pack_bits`), plus 2^bits int8 codebook entries
per output channel (its :func:`codebook`); the ``_cb`` kernels decode one channel's filter row into scratch per
output row
(edgeq_unpack_cb) and run it over the row's pixels (the same sums, so the same bytes:
tests/kernels/test_int16_codebook.py). Other filters stay plain int8.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import (CLAMP_ACTIVATIONS, arr, channel_multipliers, expect_dtype, need,
                                       requant_fields, rounding_flag, scale, tensor_array, zp)
from edgeq.passes.lower.registry import LowerCtx, lowering
from edgeq.passes.lower.geometry import raster_overlap_margin, window_fields, window_geometry
from edgeq.passes.lower.int8.conv import CB_MIN_K, cb_most, codebook, index_bits, pack_bits
from edgeq.passes.lower.quantmath import activation_range

INT16_MIN, INT16_MAX = -32768, 32767


def reduce_multiplier(m: int, shift: int) -> tuple[int, int]:
    """MultiplyByQuantizedMultiplier(int64_t x, m, shift)'s constants: (16-bit multiplier, total shift)."""
    need(m >= 0 and -31 <= shift < 8, f"multiplier {m} / shift {shift} out of the int64 requantizer's range")
    reduced = (m + (1 << 15)) >> 16 if m < 0x7FFF0000 else 0x7FFF
    return reduced, 15 - shift


def int16_clamp(op: Op, y: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized on an int16 output."""
    act = op.attrs.get("fused_activation_function", "NONE")
    need(act in CLAMP_ACTIVATIONS, f"fused activation {act}")
    return activation_range(act, scale(y), zp(y), INT16_MIN, INT16_MAX)


def check_s16(*ts: Tensor) -> None:
    for t in ts:
        expect_dtype(t, "int16")
        need(t.quant is not None and not t.quant.per_channel, f"tensor '{t.name}' is not per-tensor quantized")


def _requant_arrays(op: Op, x: Tensor, w: Tensor, y: Tensor, out_c: int):
    mults, shifts = channel_multipliers(x, w, y, out_c, broadcast=True)
    pairs = [reduce_multiplier(m, s) for m, s in zip(mults, shifts)]
    return (("mult", arr(op, "mult", np.array([p[0] for p in pairs], np.int32), "int32_t")),
            ("tshift", arr(op, "tshift", np.array([p[1] for p in pairs], np.int32), "int32_t")))


def _bias(g: Graph, op: Op, out_c: int):
    bias_id = op.inputs[2] if len(op.inputs) > 2 else -1
    if bias_id < 0:
        return None
    b = g.tensor(bias_id)
    need(b.dtype == "int64", f"bias is {b.dtype}; the 16x8 kernels take int64 bias")
    need(b.is_const and b.numel == out_c, f"bias is not a constant of {out_c} values")
    return tensor_array(g, b.id)


def _acc_bound(g: Graph, op: Op, w: Tensor) -> int:
    """max |sum w * x + bias| over int16 inputs."""
    bound = 32768 * np.abs(w.data.astype(np.int64)).sum(axis=1)
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bound = bound + np.abs(g.tensor(op.inputs[2]).data.astype(np.int64).reshape(-1))
    return int(bound.max(initial=0))


def _weights(w: Tensor, quant_axis: int) -> None:
    expect_dtype(w, "int8")
    need(w.is_const, "filter is not constant")
    need(w.quant is not None, "filter has no quantization parameters")
    if len(w.quant.scale) > 1:
        need(w.quant.axis == quant_axis, f"filter quantized along axis {w.quant.axis}, not {quant_axis}")


def reorder_weights(w: np.ndarray) -> np.ndarray:
    """CONV_2D weights [out_c, kh, kw, fin] (fin % 4 == 0) with each block of 4 input channels stored as
    (w0, w2, w1, w3): the byte order the kernel's SXTB16 / SMLAD dot product reads (int16_conv.h)."""
    blocks = np.asarray(w, np.int8).reshape(-1, 4)
    return np.ascontiguousarray(blocks[:, [0, 2, 1, 3]]).reshape(-1)


def codebook_fields_s16(op: Op, rows: np.ndarray, most: int = 16) -> tuple | None:
    """``(("weights_cb", indices), ("codebook", entries), ("cb_bits", bits))`` for weights ``rows`` [out_c, per
    channel] with at most ``most`` values per output channel (the int8 lowerings' :func:`cb_most`: 16, or 128 in
    a model edgeq clustered), at least CB_MIN_K weights per channel, and indices plus codebooks taking fewer bytes
    than the int8 weights; else None. ``bits``: :func:`index_bits` (2 for at most 4 values, ..., 7 for 128; as
    the int8 lowering's ``codebook_fields``), the indices packed at that width channel after channel, 2^bits
    entries per channel (5 bits pay off from 86 weights a channel, 6 from 257, 7 from 1025)."""
    if rows.shape[1] < CB_MIN_K:
        return None
    cb = codebook(rows, most)
    if cb is None:
        return None
    idx, entries = cb
    bits = index_bits(idx)
    if -(-idx.size * bits // 8) + (len(rows) << bits) >= rows.size:
        return None
    return (("weights_cb", arr(op, "idx", pack_bits(idx, bits), "uint8_t")),
            ("codebook", arr(op, "codebook", np.ascontiguousarray(entries[:, : 1 << bits]), "int8_t")),
            ("cb_bits", bits))


def _conv_like(g: Graph, op: Op, depthwise: bool) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    check_s16(x, y)
    need(zp(x) == 0 and zp(y) == 0, "int16 activations must have zero point 0")
    need(len(w.shape) == 4, f"filter shape {w.shape} is not 4-D")
    if depthwise:
        need(w.shape[0] == 1, f"filter shape {w.shape} is not [1, kh, kw, out_c]")
        _, k_h, k_w, out_c = w.shape
        _weights(w, 3)
    else:
        out_c, k_h, k_w, fin = w.shape
        _weights(w, 0)
    geo = window_geometry(op, x, y, k_h, k_w)
    in_c = x.shape[3]
    need(y.shape[3] == out_c, f"output has {y.shape[3]} channels, filter {out_c}")
    if depthwise:
        need(in_c > 0 and out_c % in_c == 0, f"filter channels {out_c} not a multiple of input channels {in_c}")
        fin = out_c // in_c
    else:
        need(fin > 0 and in_c % fin == 0, f"input channels {in_c} not a multiple of filter depth {fin}")
        need(out_c % (in_c // fin) == 0, f"{out_c} output channels do not split into groups")
    lo, hi = int16_clamp(op, y)
    weights = tensor_array(g, w.id)
    wabs = np.abs(w.data.astype(np.int64))
    wsum = wabs.reshape(-1, out_c).sum(axis=0) if depthwise else wabs.reshape(out_c, -1).sum(axis=1)
    acc32 = int(wsum.max(initial=0)) * 32768 < 2**31  # every window sum fits int32
    reordered = not depthwise and fin == in_c and fin % 4 == 0 and (fin <= 508 or acc32)
    rows = w.data.reshape(-1, out_c).T if depthwise else w.data.reshape(out_c, -1)
    cb = codebook_fields_s16(op, rows, cb_most(g))
    if cb is not None:  # 2- to 7-bit indices + per-channel codebooks, decoded a channel row at a time
        kernel = "edgeq_depthwise_conv_s16_cb" if depthwise else "edgeq_conv_s16_cb"
        weights, extra = None, cb
        # int16_conv.c: output rows in raster order, channel by channel within a row
        margin = raster_overlap_margin(geo, in_c, out_c, 2, 2, per_row=True)
        # = edgeq_conv_s16_cb_scratch_bytes / edgeq_depthwise_conv_s16_cb_scratch_bytes (int16_conv.h)
        scratch = rows.shape[1] * (1 if depthwise else 2)
    else:
        if reordered:
            weights = arr(op, "wr", reorder_weights(w.data), "int8_t")
        kernel = "edgeq_conv_s16"
        if depthwise:
            kernel = "edgeq_depthwise_conv_s16_acc" if acc32 else "edgeq_depthwise_conv_s16"
        extra = ()
        # int16_conv.c: output pixels in raster order, every read at or after the first valid tap of its
        # window, a pixel's values written before the next pixel's window is read
        margin = raster_overlap_margin(geo, in_c, out_c, 2, 2)
        # = edgeq_depthwise_conv_s16_acc_scratch_bytes (int16_conv.h)
        scratch = 4 * out_c if kernel == "edgeq_depthwise_conv_s16_acc" else 0
    return Lowered(
        kernel=kernel,
        struct="edgeq_conv_s16_params",
        source="int16_conv",
        fields=(
            *window_fields(geo, in_c, out_c, ("filter_in_c", fin)),
            ("act_min", lo), ("act_max", hi), ("reordered", int(reordered)),
            ("acc32", int(acc32)),  # CONV_2D: int32 window sums; DEPTHWISE: the _acc kernel
            ("weights", weights),
            ("bias", _bias(g, op, out_c)),
            *_requant_arrays(op, x, w, y, out_c),
            *extra,
        ),
        args=(x.id, y.id),
        overlap_margin=margin,
        scratch_bytes=scratch,
    )


@lowering("CONV_2D", dtypes=("int16",))
def lower_conv_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _conv_like(g, op, depthwise=False)


@lowering("DEPTHWISE_CONV_2D", dtypes=("int16",))
def lower_depthwise_conv_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    return _conv_like(g, op, depthwise=True)


@lowering("FULLY_CONNECTED", dtypes=("int16",))
def lower_fully_connected_s16(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    check_s16(x, y)
    need(zp(x) == 0, "int16 input must have zero point 0")
    _weights(w, 0)
    need(op.attrs.get("weights_format", 0) == 0, "shuffled weights format")
    need(len(w.shape) == 2, f"weights of shape {w.shape} are not [out, in]")
    out_f, in_f = w.shape
    need(x.numel % in_f == 0, f"input of {x.numel} elements is not a multiple of {in_f}")
    lo, hi = int16_clamp(op, y)
    # Measured (tests/kernels/test_int16_conv.py): LiteRT's 16x8 FullyConnected requantizes with the q31
    # multiplier, rounding once (not the convolutions' reduced int64 requantizer). Checked for accumulators
    # within int32 only.
    # TFLM (rounding "tflm") requantizes as its convolutions do (reduced int64 multiplier).
    reduced = ctx.rounding == "tflm"
    if not reduced:
        need(_acc_bound(g, op, w) < (1 << 31), "the accumulator may exceed int32 (int16 FULLY_CONNECTED)")
    mults, shifts = channel_multipliers(x, w, y, out_f, broadcast=True)
    if reduced:
        mults, shifts = (list(v) for v in zip(*(reduce_multiplier(m, s) for m, s in zip(mults, shifts))))
    cb = codebook_fields_s16(op, w.data, cb_most(g))
    return Lowered(
        kernel="edgeq_fully_connected_s16" if cb is None else "edgeq_fully_connected_s16_cb",
        struct="edgeq_fully_connected_s16_params",
        source="int16_conv",
        fields=(
            ("batches", x.numel // in_f), ("in_features", in_f), ("out_features", out_f),
            ("reduced", int(reduced)), *requant_fields(zp(y), lo, hi, rounding_flag(ctx, litert_single=True)),
            ("weights", tensor_array(g, w.id) if cb is None else None),
            ("bias", _bias(g, op, out_f)),
            ("mult", arr(op, "mult", np.array(mults, np.int32), "int32_t")),
            ("shift", arr(op, "shift", np.array(shifts, np.int32), "int32_t")),
            *(cb or ()),
        ),
        args=(x.id, y.id),
        # = edgeq_fully_connected_s16_cb_scratch_bytes (int16_conv.h): one decoded row
        scratch_bytes=0 if cb is None else in_f,
    )
