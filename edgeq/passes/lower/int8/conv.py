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

int4 filters (TFLite's INT4 tensors, the int8x4 scheme; the IR holds their values as int8 in [-8, 7]):
LiteRT's reference unpacks them to int8 (low nibble first) and runs the same per-channel int8 kernel, so
everything above holds with the values; measured in tests/kernels/test_int4.py. They stay packed in flash
(:func:`packed_s4`, TFLite's own packing; the DSP path's :func:`_conv_dsp_weights_s4`) and the kernels
decode them at run time (edgeq_conv_s4, edgeq_conv_s4_im2col, codebooks edgeq_conv_cb_im2col).
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
    expect_dtype(x, "int8")
    expect_dtype(w, "int8", "int4")
    expect_dtype(y, "int8")
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


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """The low ``bits`` bits of each value as one little-endian bit stream (firmware edgeq_unpack_cb): value j
    in bits j * bits .. j * bits + bits - 1, bit 0 the lowest of byte 0, the last byte padded with zeros;
    ceil(n * bits / 8) bytes. 4 bits is TFLite's int4 packing; 3 bits puts 8 values in 3 bytes."""
    v = np.asarray(values, np.int64).reshape(-1) & ((1 << bits) - 1)
    stream = ((v[:, None] >> np.arange(bits)) & 1).astype(np.uint8).reshape(-1)
    return np.packbits(stream, bitorder="little")


def pack_nibbles(values: np.ndarray) -> np.ndarray:
    """Values in [-8, 15] as 4-bit fields, TFLite's int4 packing (firmware edgeq_unpack_s4 / edgeq_unpack_cb4):
    two a byte, value 2i in the low nibble, 2i + 1 in the high one, an odd count padded with a zero nibble."""
    return pack_bits(values, 4)


def packed_s4(g: Graph, tid: int) -> ArrayRef:
    """An int4 tensor's data as TFLite packs it (:func:`pack_nibbles`). Named as the tensor's data: these
    bytes are the tensor, at its packed size."""
    t = g.tensor(tid)
    assert t.dtype == "int4" and t.data is not None
    return ArrayRef(f"t{tid}_data", "uint8_t", pack_nibbles(t.data))


# The int16 lowering's codebook storage (per-channel codebooks) where each channel has this many weights or more
# (16 B codebook <= K / 4 B); the int8 lowerings decide by bytes (codebook_fields).
CB_MIN_K = 64


def codebook(w: np.ndarray, most: int = 16) -> tuple[np.ndarray, np.ndarray] | None:
    """A clustered int8 filter ``[out_c, ...]`` (at most ``most`` distinct values in each output channel, e.g.
    after ``--clusters 16``) as ``(indices [out_c, ...] in 0..most - 1, codebook [out_c, most] int8)`` with
    ``codebook[c][indices[c]] == w[c]``, or None when a channel has more than ``most`` values (the int8
    lowerings take :func:`cb_most`'s, the int16 ones 16)."""
    out_c = w.shape[0]
    flat = np.asarray(w, np.int16).reshape(out_c, -1)
    cb = np.zeros((out_c, most), np.int8)
    idx = np.zeros(flat.shape, np.int16)
    for c in range(out_c):
        vals = np.unique(flat[c])
        if vals.size > most:
            return None
        cb[c, : vals.size] = vals
        idx[c] = np.searchsorted(vals, flat[c])
    return idx.reshape(w.shape), cb


def index_bits(idx: np.ndarray) -> int:
    """The index width of :func:`codebook`'s indices ``idx``: the fewest bits, at least 2, that number the values
    of the channel with the most (its entries are sorted, so the largest index is that count minus one): 2 bits up
    to 4 values, 3 up to 8, 4 up to 16, ..., 7 up to 128."""
    n = int(idx.max(initial=0)) + 1
    return max(2, (n - 1).bit_length())


# The most values a channel of a clustered int8 filter stored as codebook indices: 7-bit indices (--clusters
# 128). 8 bits would take as many bytes as the int8 weights, before the codebook.
CB_MOST = 128
# Without the clustering mark (below), 4-bit indices at most.
CB_PLAIN = 16


def cb_most(g: Graph) -> int:
    """The most values a channel's codebook may hold in ``g``'s int8 lowerings: CB_MOST (5- to 7-bit indices)
    where edgeq clustered the model (``quantize --clusters K``, or a ``qat --clusters`` model quantized: the
    .tflite's "edgeq_clusters" metadata, ``g.meta["clusters"]``), else CB_PLAIN. Wide indices are an opt-in:
    a plain int8 model's short rows hold at most 2^7 values too (ad01's dense rows of 128 inputs), and the byte
    rule alone would trade their fast int8 kernels for codebook decoding. 2- to 4-bit codebooks pay off
    wherever they take fewer bytes, clustered or not."""
    return CB_MOST if g.meta.get("clusters") else CB_PLAIN


def share_codebooks(idx: np.ndarray, entries: np.ndarray,
                    bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """:func:`codebook`'s per-channel ``(idx, entries)`` with channels merged into shared codebooks of 2^bits
    entries: ``(indices [out_c, ...] into the channel's shared codebook, codebooks [n, 2^bits] int8, number
    [out_c] uint8 of each channel's codebook)``, ``codebooks[number[c]][indices[c]] == w[c]``; None when more
    than 256 codebooks remain (a byte a channel names them). Greedy and deterministic: channels with more
    values first (then by channel), each into the codebook whose value set it grows least while the union keeps
    at most 2^bits values (the first such), else into a new one; each codebook its sorted values, zero-padded."""
    out_c, cap = idx.shape[0], 1 << bits
    flat = idx.reshape(out_c, -1)
    sets = [entries[c][np.unique(flat[c])] for c in range(out_c)]
    groups: list[set[int]] = []
    number = np.zeros(out_c, np.int64)
    for c in sorted(range(out_c), key=lambda c: (-sets[c].size, c)):
        vals = set(int(v) for v in sets[c])
        best = None
        for gi, grp in enumerate(groups):
            grow = len(grp | vals) - len(grp)
            if len(grp) + grow <= cap and (best is None or grow < best[0]):
                best = (grow, gi)
        if best is None:
            if len(groups) == 256:
                return None
            groups.append(vals)
            number[c] = len(groups) - 1
        else:
            groups[best[1]] |= vals
            number[c] = best[1]
    books = np.zeros((len(groups), cap), np.int8)
    for gi, grp in enumerate(groups):
        books[gi, : len(grp)] = sorted(grp)
    shared = np.zeros(flat.shape, np.int64)
    for c in range(out_c):  # a codebook's values are sorted, its zero padding past them
        shared[c] = np.searchsorted(books[number[c], : len(groups[number[c]])], entries[c][flat[c]])
    return shared.reshape(idx.shape), books, number.astype(np.uint8)


def codebook_fields(op: Op, cb: tuple[np.ndarray, np.ndarray],
                    most_bytes: int | None = None) -> tuple[ArrayRef, tuple, np.ndarray] | None:
    """The kernels' codebook weights for :func:`codebook`'s ``cb``, ``(indices, fields, unpacked indices)``:
    the indices into the layer's distinct codebooks (:func:`share_codebooks`) packed at the narrowest width the
    filter's channels allow (b bits where every channel has at most 2^b values, b from 2 to 7; :func:`pack_bits`,
    channel after channel; the kernel's weights field), the fields ``codebook`` (the codebooks of 2^bits entries,
    once), ``cb_map`` (a byte a channel naming its codebook; None where the layer has one) and ``cb_bits``, and
    the indices unpacked (the filter's shape, for the DSP layout). None where more than 256 codebooks
    remain or where indices, codebooks and numbers take more than ``most_bytes`` (by default fewer bytes than
    the int8 weights; the other constants are the same either way): with the codebooks shared, layers of few
    weights a channel pay off too (resnet8 with 16 clusters: its first conv and 1x1 shortcuts, K = 27, 16, 32)."""
    idx, entries = cb
    limit = idx.size - 1 if most_bytes is None else most_bytes
    bits = index_bits(idx)
    if -(-idx.size * bits // 8) + (1 << bits) > limit:  # not even with one codebook
        return None
    shared = share_codebooks(idx, entries, bits)
    if shared is None:
        return None
    sidx, books, number = shared
    if -(-idx.size * bits // 8) + books.size + (len(books) > 1) * len(number) > limit:
        return None
    return arr(op, "idx", pack_bits(sidx, bits), "uint8_t"), (
        ("codebook", arr(op, "codebook", books, "int8_t")),
        ("cb_map", None if len(books) == 1 else arr(op, "cb_map", number, "uint8_t")),
        ("cb_bits", bits)), sidx


# --- CONV_2D -----------------------------------------------------------------------------------------

def _conv_dsp_weights(op: Op, w: np.ndarray) -> tuple[int, ArrayRef]:
    """(k_pad, wq): the int8 filter in the DSP path's layout (firmware/kernels/conv.h): per pair of output
    channels and block of 4 rows, the 4 bytes of channel oc then those of oc + 1, as words. No widening
    here: the kernel's SXTB16 (plain and ror 8) gives the even and odd rows, the im2col buffer's lanes."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    k_pad, oc_pad = -(-k // 8) * 8, -(-out_c // 2) * 2  # the K loop does 8 rows per iteration
    m = np.zeros((oc_pad, k_pad), np.int8)
    m[:out_c, :k] = w.reshape(out_c, k)
    m = m.reshape(oc_pad // 2, 2, k_pad // 4, 4).transpose(0, 2, 1, 3)  # pair, block, channel in pair, row
    return k_pad, arr(op, "wq", np.ascontiguousarray(m).reshape(-1).view("<i4").astype(np.int32), "int32_t")


def _conv_dsp_weights_s4(op: Op, w: np.ndarray) -> tuple[int, ArrayRef]:
    """(k_pad, wq_s4): an int4 filter in the DSP path's packed layout (firmware/kernels/conv.h wq_s4): per
    pair of output channels and block of 4 rows, a word whose byte j is w[oc][t+j] << 4 | w[oc+1][t+j] & 15."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    k_pad, oc_pad = -(-k // 8) * 8, -(-out_c // 2) * 2
    m = np.zeros((oc_pad, k_pad), np.int16)
    m[:out_c, :k] = w.reshape(out_c, k)
    m = (m & 0xF).reshape(oc_pad // 2, 2, k_pad // 4, 4)  # pair, channel in pair, block, row in block
    b = ((m[:, 0] << 4) | m[:, 1]).astype(np.uint8)      # pair, block, byte
    return k_pad, arr(op, "wq_s4", np.ascontiguousarray(b).reshape(-1).view("<i4").astype(np.int32), "int32_t")


def _conv_dsp_weights_cb(op: Op, idx: np.ndarray, bits: int) -> tuple[int, ArrayRef]:
    """(k_pad, wq_s4) for 2-, 3- and 5- to 7-bit codebook indices (firmware/kernels/conv.h wq_s4, conv.c conv_decode_cbn):
    per pair of output channels, its blocks of 4 rows as one little-endian bit stream (:func:`pack_bits`) of
    8 fields a block, channel oc's rows t..t+3 then oc + 1's, padded to a whole word; the pairs one after the
    other. (4 bits: :func:`_conv_dsp_weights_s4`'s nibble layout.)"""
    out_c = idx.shape[0]
    k = int(np.prod(idx.shape[1:]))
    k_pad, oc_pad = -(-k // 8) * 8, -(-out_c // 2) * 2
    m = np.zeros((oc_pad, k_pad), np.int64)
    m[:out_c, :k] = idx.reshape(out_c, k)
    m = m.reshape(oc_pad // 2, 2, k_pad // 4, 4).transpose(0, 2, 1, 3).reshape(oc_pad // 2, -1)  # pair, fields
    words = -(-m.shape[1] * bits // 32)
    rows = [np.pad(pack_bits(row, bits), (0, 4 * words - -(-m.shape[1] * bits // 8))) for row in m]
    return k_pad, arr(op, "wq_s4", np.concatenate(rows).view("<i4").astype(np.int32), "int32_t")


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


def _conv_dsp_me(op: Op, rq: ArrayRef | None, output_offset: int) -> ArrayRef | None:
    """The int8 DSP path's requantization constants (conv.h ``dsp_me``) from :func:`_conv_dsp_requant`'s
    rows: the multipliers m, then the exponents e a byte each. Its s is 1 and its rb
    (2 * output_offset + 1) << (e - 1) in every row (e >= 1), so neither is stored: 4.25 bytes a channel."""
    if rq is None:
        return None
    m, s, e, rb = rq.values.reshape(-1, 4).astype(np.int64).T
    assert (s == 1).all() and (rb == (2 * output_offset + 1) << (e - 1)).all()
    eb = np.zeros(-(-len(e) // 4) * 4, np.uint8)
    eb[:len(e)] = e
    return arr(op, "dsp_me", np.concatenate([m, eb.view("<i4")]).astype(np.int32), "int32_t")


@lowering("CONV_2D")
def lower_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    geo, in_c, out_c, fin = conv_layout(op, x, w, y)
    groups = in_c // fin
    mults, shifts, lo, hi, bias = conv_quant(g, op, x, w, y, out_c, quant_axis=0)
    wsum = w.data.reshape(out_c, -1).astype(np.int64).sum(axis=1)
    acc_init = acc_init_values(op, bias, wsum, -zp(x))
    head, tail = conv_tail(g, op, ctx, x, y, mults, shifts, lo, hi, bias, acc_init)
    # DSP path (2 pixels x 2 channels of __smlad, one or more pixel pairs per group): starts every pixel from
    # acc_init, so it needs one, and its requantization assumes non-negative multipliers (always, from
    # QuantizeMultiplier) and double rounding. Without it: edgeq_conv_s8, no scratch.
    # ctx.cpu "portable": no DSP constants; "dsp": the int8 weights (and bias, and mult / shift with dsp_me)
    # are not emitted when the DSP path (which reads wq, acc_init and dsp_me) is taken. wq holds the int8
    # weights themselves (no int16 copy); the pixel pairs per widening are chosen after memory planning
    # (scratch_options, passes.memory.scratch).
    cb = codebook(w.data, cb_most(g)) if w.dtype == "int8" else None
    cbf = None if cb is None else codebook_fields(op, cb)
    if w.dtype == "int4" or cbf is not None:
        return _lower_conv_s4(g, op, ctx, x, w, y, geo, in_c, out_c, fin, head, tail, bias, mults, shifts,
                              acc_init, cbf)
    k_pad, wq, me, kernel, scratch, options = 0, None, None, "edgeq_conv_s8", 0, ()
    if ctx.cpu == "mve" and groups == 1 and acc_init is not None and \
            (geo["dilation_h"], geo["dilation_w"]) == (1, 1):  # the Helium body (conv_mve.h)
        k_pad, weights, rq = _conv_mve_consts(op, w.data, acc_init, mults, shifts)
        tail = tuple((name, None if name in ("bias", "acc_init", "mult", "shift") else v) for name, v in tail)
        return Lowered(kernel="edgeq_conv_s8_im2col", struct="edgeq_conv_s8_params", source="conv",
                       fields=(*window_fields(geo, in_c, out_c, ("filter_in_c", fin)), *head, ("weights", weights),
                               *tail, ("k_pad", k_pad), ("wq", None), ("dsp_rq", rq), ("s4_pairs", 0),
                               ("dsp_me", None)),
                       args=(x.id, y.id), scratch_bytes=4 * k_pad,
                       overlap_margin=raster_overlap_margin(geo, in_c, out_c))
    elif ctx.cpu not in ("portable", "mve") and groups == 1 and acc_init is not None and min(mults) >= 0:
        k_pad, wq = _conv_dsp_weights(op, w.data)
        me = _conv_dsp_me(op, _conv_dsp_requant(op, w.data, bias, mults, shifts, zp(y)), zp(y))
        kernel = "edgeq_conv_s8_im2col"
        options = _conv_dsp_pairs(k_pad, int(np.prod(y.shape[:-1])))
        scratch = options[0][0]
        if ctx.cpu == "dsp":  # only the DSP kernel is built: it starts from acc_init, requantizes from dsp_me
            unused = {"bias"} | ({"mult", "shift"} if me is not None else set())
            tail = tuple((name, None if name in unused else v) for name, v in tail)
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
            ("k_pad", k_pad), ("wq", wq), ("s4_pairs", 0), ("dsp_me", me),
        ),
        args=(x.id, y.id),
        scratch_bytes=scratch,
        overlap_margin=raster_overlap_margin(geo, in_c, out_c),
        scratch_options=options,
    )


# DSP path with wq (conv.h s4_pairs): pixel pairs sharing one widening of a channel pair's int8 weights into
# scratch. Per block of 4 rows, pixel pair and channel pair, the K loop costs 10.75 instructions on widened
# weights (two LDMs and 8 __smlad, the loop's 3 per 4 blocks), 14.5 when it widens them itself (s4_pairs 0),
# and a widening 6.5 shared by the group; 2 pairs measured no better than 0 on resnet8 (14,677,720 against
# 14,677,680 instructions on mps2-an386), 3 and more gain. Scratch: (pairs + 1) * 4 * k_pad bytes, 4 * k_pad
# with 0.
# The pixel pairs a group of the DSP conv may take (s4_pairs), the largest at most EDGEQ_CONV_DSP_MAX_PAIRS (conv.h):
# upgrade-scratch takes the largest the arena has free bytes for. Groups of up to 32 pairs widen each channel
# pair's weights fewer times (MobileNetV1-0.25 96x96 on the M4: 11.80 M instructions with 8 at most, 11.32 M
# with 32; resnet8 14.54 M -> 14.48 M).
S8_DSP_PAIRS = (0, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32)
CONV_DSP_STACK_PAIRS = 8  # = EDGEQ_CONV_DSP_STACK_PAIRS (conv.h)


def _conv_dsp_pairs(k_pad: int, npix: int, choices=None) -> tuple[tuple[int, tuple[tuple[str, int], ...]], ...]:
    """The DSP path's scratch options (Lowered.scratch_options), smallest first: s4_pairs from ``choices``
    (S8_DSP_PAIRS by default), at most as many pairs as the output has (edgeq_conv_s8_im2col_scratch_bytes,
    edgeq_conv_s4_im2col_scratch_bytes, edgeq_conv_cb_im2col_scratch_bytes, conv.h)."""
    pairs = sorted({min(n, -(-npix // 2)) for n in (S8_DSP_PAIRS if choices is None else choices)})
    # = edgeq_conv_dsp_scratch_bytes: groups of more than CONV_DSP_STACK_PAIRS keep their accumulators there
    return tuple(((n + 1) * 4 * k_pad + (16 * n if n > CONV_DSP_STACK_PAIRS else 0), (("s4_pairs", n),))
                 for n in pairs)


# DSP path with wq_s4 (conv.h s4_pairs): pixel pairs sharing one decode of a channel pair's weights, the
# scratch options as the int8 path's (_conv_dsp_pairs; the smallest planned, upgrade-scratch takes the largest
# that fits). More pairs: fewer decodes (int4: 9 instructions a block of 4 rows, codebooks 27, against the K
# loop's 10 a block and pixel pair), more scratch ((pairs + 1) * 4 * k_pad bytes). There is no in-register
# variant as int8's s4_pairs 0, so smaller groups cost instructions where they are planned (band members keep
# the smallest option): from (2, 4, 8) / (4, 8), resnet8 int8x4 plans 28,640 B of arena instead of 33,088 for
# 15.92 M instructions instead of 13.96 M on the M4, resnet8 --clusters 16 32,832 B instead of 38,496 for
# 16.96 M instead of 14.69 M.
S4_DSP_PAIRS, CB_DSP_PAIRS = (4, 8), (8,)


def _s4_sums_fit(w: np.ndarray, acc_init: ArrayRef) -> bool:
    """Whether the int4 DSP path's accumulators fit int32: its lanes are 16 times the weights, so it starts
    from 16 * acc_init and adds 16 * x * w (|x| <= 128) over the window: 16 * (|acc_init| + 128 * sum|w|)."""
    wabs = np.abs(w.reshape(w.shape[0], -1).astype(np.int64)).sum(axis=1)
    return bool((16 * (np.abs(acc_init.values.astype(np.int64)) + 128 * wabs)).max(initial=0) < (1 << 31))


def _lower_conv_s4(g: Graph, op: Op, ctx: LowerCtx, x: Tensor, w: Tensor, y: Tensor, geo: dict, in_c: int,
                   out_c: int, fin: int, head: tuple, tail: tuple, bias: Tensor | None, mults, shifts,
                   acc_init: ArrayRef | None, cbf: tuple | None = None) -> Lowered:
    """CONV_2D with an int4 filter: edgeq_conv_s4 (portable: a filter row decoded per output channel), or
    on DSP cores edgeq_conv_s4_im2col: the int8 DSP path's loop (conv.c CONV_DSP_GROUPS: its K loop, its
    requantization from dsp_me, the same 4.25 bytes a channel) on each channel pair's weights decoded from
    wq_s4 once per group of pixel pairs (S4_DSP_PAIRS, CB_DSP_PAIRS for codebooks), under the int8 DSP
    path's conditions plus :func:`_s4_sums_fit` (its int4 lanes are 16 times the weights).
    The portable kernel goes channel by channel, so input and output may overlap only where the DSP kernel,
    which writes pixels in raster order after reading their windows, is the only one built (cpu "dsp", and
    "mve": Helium cores have the DSP extension and no Helium body for these filters).
    ``cbf``: a clustered int8 filter's :func:`codebook_fields`: the portable kernel with cb_bits-wide indices
    in place of the int4 values, decoded through the channel's codebook of 2^cb_bits int8 entries (the layer's
    distinct codebooks stored once, cb_map naming each channel's); on DSP cores edgeq_conv_cb_im2col, the same
    loop looking the indices of wq_s4 (4 bits: the int4 nibble layout; 2, 3, 5 to 7: :func:`_conv_dsp_weights_cb`)
    up into int16 lanes once per group, the entries themselves: the int8 path's sums, from acc_init (conv.c
    conv_fill_cb). resnet8 on the M4 (tests/models/test_clusters.py, printed with -s): 4 and 8 clusters run
    0.99x 16 clusters' instructions (5.27x while 2- and 3-bit indices took the portable kernel). 5 to 7 bits:
    edgeq_conv_cbw_im2col (its own entry point: 2- to 4-bit images link no wide decode), the same loop, its fill
    taking each block's two runs of 4 fields from the one or two words holding them (conv.c conv_decode_cbw),
    amortized over the group: resnet8 with 32 / 64 clusters 17.10 M / 16.20 M instructions, 1.176x / 1.114x
    int8's (73.91 M / 46.94 M on the portable kernel)."""
    k = geo["k_h"] * geo["k_w"] * fin
    cb = None if cbf is None else dict(cbf[1])
    k_pad, wq_s4, me, kernel, scratch, pairs, options = 0, None, None, "edgeq_conv_s4", k, 0, ()
    if (ctx.cpu != "portable" and in_c == fin and acc_init is not None and min(mults) >= 0
            and (cb is not None or _s4_sums_fit(w.data, acc_init))):
        if cb is None or cb["cb_bits"] == 4:
            k_pad, wq_s4 = _conv_dsp_weights_s4(op, w.data if cb is None else cbf[2])
        else:
            k_pad, wq_s4 = _conv_dsp_weights_cb(op, cbf[2], cb["cb_bits"])
        me = _conv_dsp_me(op, _conv_dsp_requant(op, w.data, bias, mults, shifts, zp(y)), zp(y))
        kernel = ("edgeq_conv_s4_im2col" if cb is None else "edgeq_conv_cb_im2col" if cb["cb_bits"] <= 4
                  else "edgeq_conv_cbw_im2col")
        options = _conv_dsp_pairs(k_pad, int(np.prod(y.shape[:-1])), S4_DSP_PAIRS if cb is None else CB_DSP_PAIRS)
        scratch, pairs = options[0][0], dict(options[0][1])["s4_pairs"]
    # only the DSP kernel is built ("mve": Helium cores run it, having the DSP extension): it starts from
    # acc_init and requantizes from dsp_me
    dsp_only = ctx.cpu in ("dsp", "mve") and wq_s4 is not None
    if dsp_only:
        unused = {"bias"} | ({"mult", "shift"} if me is not None else set())
        tail = tuple((name, None if name in unused else v) for name, v in tail)
    if cb is None:
        s4 = (("weights_s4", None if dsp_only else packed_s4(g, w.id)), ("codebook", None), ("cb_map", None),
              ("cb_bits", 0))
    else:
        s4 = (("weights_s4", None if dsp_only else cbf[0]), *cbf[1])
    return Lowered(
        kernel=kernel,
        struct="edgeq_conv_s8_params",
        source="conv",
        fields=(
            *window_fields(geo, in_c, out_c, ("filter_in_c", fin)),
            *head,
            ("weights", None),
            *tail,
            ("k_pad", k_pad), ("wq", None),
            *s4, ("wq_s4", wq_s4), ("s4_pairs", pairs), ("dsp_me", me),
        ),
        args=(x.id, y.id),
        scratch_bytes=scratch,
        overlap_margin=raster_overlap_margin(geo, in_c, out_c) if dsp_only else None,
        scratch_options=options,
    )


# --- CONV_2D on Helium cores (conv_mve.h) -------------------------------------------------------------

def mve_rq_rows(acc_init: ArrayRef, mults, shifts, out_c: int, padded: int) -> np.ndarray:
    """The Helium bodies' requantization rows (conv_mve.h, depthwise_conv_mve.h), int64 [4][padded]: acc_init,
    multipliers, left shifts max(shift, 0) and right shifts min(shift, 0) per channel, zero for the padding
    channels past out_c (each kernel lays the rows out in its own groups)."""
    sh = np.broadcast_to(np.array(shifts, np.int64), (out_c,))
    t = np.zeros((4, padded), np.int64)
    t[0, :out_c] = acc_init.values
    t[1, :out_c] = np.broadcast_to(np.array(mults, np.int64), (out_c,))
    t[2, :out_c] = np.maximum(sh, 0)
    t[3, :out_c] = np.minimum(sh, 0)
    return t


def _conv_mve_consts(op: Op, w: np.ndarray, acc_init: ArrayRef, mults, shifts) -> tuple[int, ArrayRef, ArrayRef]:
    """The Helium body's constants (conv_mve.h): k_pad = k16 / 2 (k16: the window's K bytes rounded up to 16;
    scratch 4 * k_pad = two windows), the filter as [group of 4 channels][block of 16 of k16][4][16] (zero
    channels up to a multiple of 4, zero bytes up to k16), and per group 16 words: acc_init, multipliers, left
    shifts max(shift, 0), right shifts min(shift, 0) of its four channels (zero for padded channels)."""
    out_c = w.shape[0]
    k = w[0].size
    k16, c4 = -(-k // 16) * 16, -(-out_c // 4) * 4
    wp = np.zeros((c4, k16), np.int8)
    wp[:out_c, :k] = w.reshape(out_c, k)
    wp = wp.reshape(c4 // 4, 4, k16 // 16, 16).transpose(0, 2, 1, 3)
    t = mve_rq_rows(acc_init, mults, shifts, out_c, c4).reshape(4, c4 // 4, 4).transpose(1, 0, 2)
    return k16 // 2, arr(op, "weights_mve", wp.reshape(-1), "int8_t"), arr(op, "mve_rq", t.reshape(-1).astype(np.int32),
                                                                           "int32_t")
