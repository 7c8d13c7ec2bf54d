"""DEPTHWISE_CONV_2D, int8 (per-channel or per-tensor weights), as reference_integer_ops::
DepthwiseConvPerChannel (firmware/kernels/depthwise_conv.c); Prepare and requantization as CONV_2D
(edgeq.passes.lower.int8.conv), measured in tests/kernels/test_depthwise_conv.py.

int4 filters (the int8x4 scheme) run edgeq_depthwise_conv_s4: the filter stays packed as TFLite packs it
and each block of 32 channels is decoded once per call (measured in tests/kernels/test_int4.py).

Clustered int8 filters (``quantize --clusters K``: at most K values in each output channel) run
edgeq_depthwise_conv_cb where the int8 CONV_2D lowering's byte rule says codebook indices take fewer bytes
(edgeq.passes.lower.int8.conv ``codebook`` / ``codebook_fields``, the filter taken as [out_c, taps]): cb_bits-wide
indices, channel after channel (a channel's k_h * k_w taps in raster order), into the layer's shared codebooks;
the same kernel as int4's, its decode step looking the indices up instead of unpacking nibbles (measured in
tests/kernels/test_depthwise_codebook.py, on the M4 in tests/models/test_clusters_depthwise.py). Per-channel
quantization gives each channel of a layer clustered per layer its own int8 values, at most k_h * k_w of them,
so 16 clusters save little on 3x3 filters: kws --clusters 16 on mps2-an386 (its 4 depthwise layers, 4- and 3-bit
indices, 10 to 34 codebooks each) would save 128 B of weights and constants for 544 B more code and 1.45% more
instructions (the packs rebuilt at each call), so a filter takes codebooks only where they come to at most
DW_CB_MOST_OF_INT8 of its int8 bytes; --clusters 4 (2 bits): 14,180 -> 12,820 B."""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.lower.common import arr, rounding_flag, tensor_array, zp
from edgeq.passes.lower.geometry import depthwise_layout, raster_overlap_margin, window_fields
from edgeq.passes.lower.int8.conv import (acc_init_values, cb_most, codebook, codebook_fields, conv_quant, conv_tail,
                                          mve_rq_rows, packed_s4)
from edgeq.passes.lower.registry import LowerCtx, lowering

DW_DSP_MAX_C = 256  # 4 * EDGEQ_DW_ZBUF_WORDS in firmware/kernels/depthwise_conv.c
DW_DSP_GROUP_CONSTS = 9  # EDGEQ_DW_DSP_GROUP_CONSTS in firmware/kernels/depthwise_conv.h: 4 + 1 + 4 besides the taps
DW_DSP_MAX_TAPS = 49  # EDGEQ_DW_DSP_MAX_TAPS in firmware/kernels/depthwise_conv.h


def _dw_dsp_pack(op: Op, w: np.ndarray, bias: Tensor | None, acc_init, mults, shifts, dm: int, rounding: int):
    """The Cortex-M DSP path's constants (see depthwise_conv.h ``dsp_pack``), or None when that path
    would not be bit-exact or does not apply (depth multiplier other than 1, fewer than 2 or more than
    DW_DSP_MAX_TAPS taps, more than DW_DSP_MAX_C channels).

    Per channel, with e = right shift (>= 1, so the left shift is 0), m >= 2^30 and m2 = 2 m - 2^32 (an int32):
    SRDHM(acc, m) = x = (2 acc m + 2^31) >> 32 = SMMLAR(acc, m2, acc), and RDBPOT(x, e) + out_off =
    (x + 2^(e-1) - (acc < 0) + out_off * 2^e) >> e (x = 0 whenever acc < 0 but x >= 0 does not change the
    result) = (((x - (acc < 0)) >> (e - 1)) + k) >> 1 with k = 2 out_off + 1, a constant of the layer (the
    kernel's context, not the pack): per channel only acc_init, m2 and e are stored, the four e - 1 of a
    group as the bytes of one word (a register-held shift reads only its register's low byte). No sum of the
    kernel's SMLADs may wrap: checked here (with a factor 2 to spare) as |2 acc| < 2^31 for every reachable
    accumulator, from |x + in_off| <= 255, the bias and the weights. The weights stay int8 (the kernel widens
    them with SXTB16), reordered so that one word holds two taps of two channels, an odd tap count's last tap
    alone in a word of the 4 channels: per group taps + DW_DSP_GROUP_CONSTS words. When out_c % 4 != 0 the
    last group is padded with zero lanes (the kernel stores only the real channels of that group)."""
    k_h, k_w, out_c = w.shape[1], w.shape[2], w.shape[3]
    taps = k_h * k_w
    padded_c = out_c + (-out_c % 4)
    if not 2 <= taps <= DW_DSP_MAX_TAPS or dm != 1 or padded_c > DW_DSP_MAX_C or acc_init is None or rounding != 0:
        return None
    m = np.array(mults, np.int64)
    sh = np.array(shifts, np.int64)
    if len(m) == 1:
        m, sh = np.repeat(m, out_c), np.repeat(sh, out_c)
    e = np.maximum(-sh, 0)
    if (m < (1 << 30)).any() or (m >= (1 << 31)).any() or (e < 1).any() or (e > 24).any():
        return None
    wt = w.reshape(taps, out_c).astype(np.int64)
    init = acc_init.values.astype(np.int64)
    b = bias.data.reshape(-1).astype(np.int64) if bias is not None else np.zeros(out_c, np.int64)
    wabs = np.abs(wt).sum(axis=0)
    # reachable accumulators: bias + sum (x + off) * w, and the kernel's partial sums acc_init + sum x * w
    bound = np.maximum(np.abs(b) + 255 * wabs, np.abs(init) + 128 * wabs) << 1
    if bound.max() >= (1 << 31):
        return None
    pad = -out_c % 4  # the last group's missing lanes: zero weights and accumulator, channel 0's params
    if pad:
        wt = np.concatenate([wt, np.zeros((taps, pad), np.int64)], axis=1)
        init = np.concatenate([init, np.zeros(pad, np.int64)])
        m, e = (np.concatenate([v, np.repeat(v[:1], pad)]) for v in (m, e))
    groups = []
    for g in range(0, out_c + pad, 4):
        q = wt[:, g:g + 4] & 0xFF  # taps x 4 channels, as bytes
        words = list(init[g:g + 4])
        for t in range(0, taps - 1, 2):  # taps t, t + 1: (c0, c1) then (c2, c3), SXTB16 gives tap pairs
            for c in (0, 2):
                words.append(q[t, c] | (q[t, c + 1] << 8) | (q[t + 1, c] << 16) | (q[t + 1, c + 1] << 24))
        if taps % 2:
            words.append(q[taps - 1, 0] | (q[taps - 1, 1] << 8) | (q[taps - 1, 2] << 16) | (q[taps - 1, 3] << 24))
        words.append(sum(int(v - 1) << (8 * j) for j, v in enumerate(e[g:g + 4])))
        words += list(2 * m[g:g + 4] - (1 << 32))
        groups.append(words)
    packed = np.array(groups, np.int64).reshape(-1)
    packed = ((packed + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)
    return arr(op, "dsp_pack", packed, "int32_t")

def _without_portable_arrays(tail: tuple) -> tuple:
    """conv_tail's fields without the arrays only the portable kernel reads (bias, acc_init, mult, shift):
    for builds that run only the DSP path, whose pack holds its own copies."""
    return tuple((name, None if name in ("bias", "acc_init", "mult", "shift") else v) for name, v in tail)


@lowering("DEPTHWISE_CONV_2D")
def lower_depthwise_conv(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w, y = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    geo, in_c, out_c, dm = depthwise_layout(op, ctx, x, w, y)
    mults, shifts, lo, hi, bias = conv_quant(g, op, x, w, y, out_c, quant_axis=3)
    wsum = w.data.reshape(-1, out_c).astype(np.int64).sum(axis=0)
    acc_init = acc_init_values(op, bias, wsum, -zp(x))
    head, tail = conv_tail(g, op, ctx, x, y, mults, shifts, lo, hi, bias, acc_init)
    # "mve": the Helium body (depthwise_conv_mve.h) reads the int8 weights: no DSP pack
    pack = None if ctx.cpu in ("portable", "mve") else _dw_dsp_pack(op, w.data, bias, acc_init, mults, shifts, dm,
                                                                     rounding_flag(ctx, litert_single=False))
    taps = geo["k_h"] * geo["k_w"]
    cb = codebook(w.data.reshape(taps, out_c).T, cb_most(g)) if w.dtype == "int8" else None
    # only where it saves enough for its decode (code, and the pack rebuilt at each call)
    cbf = None if cb is None else codebook_fields(op, cb, int(DW_CB_MOST_OF_INT8 * taps * out_c))
    if w.dtype == "int4" or cbf is not None:  # "mve" too: the portable kernel, as int4's
        return _lower_depthwise_s4(g, op, ctx, x, w, y, geo, in_c, out_c, dm, head, tail, pack, cbf)
    if ctx.cpu == "mve":
        mve = _dw_mve_pack(op, w.data, acc_init, mults, shifts, dm, zp(x))
        if mve is not None:  # the Helium body (depthwise_conv_mve.h) reads only the pack
            tail = tuple((name, None if name in ("bias", "acc_init", "mult", "shift") else v) for name, v in tail)
            return Lowered(kernel="edgeq_depthwise_conv_s8", struct="edgeq_depthwise_conv_s8_params",
                           source="depthwise_conv",
                           fields=(*window_fields(geo, in_c, out_c, ("depth_mult", dm)), *head, ("weights", None),
                                   *tail, ("dsp_pack", None), ("mve_pack", mve)),
                           args=(x.id, y.id), overlap_margin=raster_overlap_margin(geo, in_c, out_c))
    weights, kernel = tensor_array(g, w.id), "edgeq_depthwise_conv_s8"
    if ctx.cpu == "dsp" and pack is not None:
        # only the DSP path is built: its pack holds what it needs, and its own entry points leave the
        # portable kernel out of the image when no layer needs it, and the 3x3 body (unrolled) or the any-window
        # one when no layer needs that one
        square3 = (geo["k_h"], geo["k_w"]) == (3, 3)
        weights, kernel = None, "edgeq_depthwise_conv_s8_dsp" if square3 else "edgeq_depthwise_conv_s8_dsp_any"
        tail = _without_portable_arrays(tail)
    return Lowered(
        kernel=kernel,
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


# A clustered depthwise filter takes codebook storage only where indices, codebooks and map come to at most this
# fraction of its int8 bytes: the codebook path costs its decode's code (about 540 B on the M4) and the pack
# rebuilt at each call (+1.5% instructions on kws). Per-channel quantization leaves a 3x3 channel of a layer
# clustered per layer up to 9 values of its own, so few channels share a codebook: kws --clusters 16 saved 128 B
# of its 2,304 B of depthwise weights (kept int8 now), --clusters 4 (2-bit indices) 1,360 B.
DW_CB_MOST_OF_INT8 = 7 / 8


def _lower_depthwise_s4(g: Graph, op: Op, ctx: LowerCtx, x: Tensor, w: Tensor, y: Tensor, geo: dict, in_c: int,
                        out_c: int, dm: int, head: tuple, tail: tuple, pack, cbf: tuple | None = None) -> Lowered:
    """DEPTHWISE_CONV_2D with an int4 filter: edgeq_depthwise_conv_s4; with a clustered int8 one (``cbf``,
    :func:`codebook_fields` of the filter as [out_c, taps]): edgeq_depthwise_conv_cb, weights_s4 then holding the
    cb_bits-wide indices channel after channel (pack_bits of [out_c, taps]), codebook / cb_map / cb_bits as
    CONV_2D's. Both decode a block of channels at a time (firmware dw_decode), so the two share everything
    else: where the int8 DSP path applies (``pack``), its constants without the weight words (dsp_pack_s4: the
    kernel rebuilds the pack in scratch from the packed filter at each call, the weights as int8 bytes). The
    portable kernel goes block by block over all pixels, so input and output may overlap only where the DSP
    path, which writes in raster order, is the only one built (cpu "dsp"; codebooks: its own entry points
    edgeq_depthwise_conv_cb_dsp for 3x3 windows and _dsp_any, as the int8 ones, so that neither the portable
    kernel nor the other window's body is linked). Scratch: the larger of a block's decoded taps and the pack
    (the pack alone for the DSP entry points), plus (codebooks) one channel's taps (edgeq_unpack_cb decodes a
    channel's run of indices there before it is spread over the block's layout)."""
    taps = geo["k_h"] * geo["k_w"]
    pack_s4, words = None, 0
    if pack is not None:
        full = pack.values.reshape(-1, taps + DW_DSP_GROUP_CONSTS)
        pack_s4 = arr(op, "dsp_pack_s4", np.concatenate([full[:, :4], full[:, 4 + taps:]], axis=1).reshape(-1),
                      "int32_t")
        words = full.size
    # = edgeq_depthwise_conv_s4_scratch_bytes, edgeq_depthwise_conv_cb_scratch_bytes
    scratch = max(taps * min(out_c, 32), 4 * words) + (taps if cbf is not None else 0)
    if pack is not None and ctx.cpu == "dsp":  # only the DSP path is built: its pack holds what it needs
        tail = _without_portable_arrays(tail)
    if cbf is None:
        kernel, weights = "edgeq_depthwise_conv_s4", (("weights_s4", packed_s4(g, w.id)),)
    else:
        kernel, weights = "edgeq_depthwise_conv_cb", (("weights_s4", cbf[0]), *cbf[1])
        if pack is not None and ctx.cpu == "dsp":  # = edgeq_depthwise_conv_cb_dsp_scratch_bytes
            kernel = "edgeq_depthwise_conv_cb_dsp" if (geo["k_h"], geo["k_w"]) == (3, 3) else \
                "edgeq_depthwise_conv_cb_dsp_any"
            scratch = 4 * words + taps
    return Lowered(
        kernel=kernel,
        struct="edgeq_depthwise_conv_s8_params",
        source="depthwise_conv",
        fields=(*window_fields(geo, in_c, out_c, ("depth_mult", dm)), *head, ("weights", None), *tail,
                ("dsp_pack", None), *weights, ("dsp_pack_s4", pack_s4), ("dsp_pack_words", words)),
        args=(x.id, y.id),
        scratch_bytes=scratch,
        overlap_margin=raster_overlap_margin(geo, in_c, out_c) if (ctx.cpu == "dsp" and pack is not None) else None,
    )


# --- the Helium body (depthwise_conv_mve.h) -----------------------------------------------------------------


def _dw_mve_pack(op: Op, w: np.ndarray, acc_init, mults, shifts, dm: int, x_zp: int):
    """depthwise_conv_mve.h's pack, or None where that body does not apply (depth multiplier other than 1, no
    acc_init, a 3x3 filter holding -128: the kernel adds two such taps' int8 products in int16; LiteRT's int8
    filters are symmetric, -127..127). Per group of 16 channels (the last one padded with zero
    channels), int32 words: the group's 16 weight bytes of every tap (ky, kx) in raster order, then for each
    j < 4, of its channels j, j + 4, j + 8, j + 12 (the kernel's accumulator lanes): acc_init, multipliers,
    left shifts max(shift, 0) and right shifts min(shift, 0); after the last group, c16 bytes of the input zero
    point x_zp (what a clipped 3x3 window reads for its taps outside the input)."""
    k_h, k_w, out_c = w.shape[1], w.shape[2], w.shape[3]
    if dm != 1 or acc_init is None or ((k_h, k_w) == (3, 3) and (w == -128).any()):  # int16 pairs could overflow
        return None
    c16 = -(-out_c // 16) * 16
    wt = np.zeros((k_h * k_w, c16), np.int8)
    wt[:, :out_c] = w.reshape(k_h * k_w, out_c)
    wt = wt.reshape(k_h * k_w, c16 // 16, 16).transpose(1, 0, 2).reshape(c16 // 16, -1).view("<i4")
    q = mve_rq_rows(acc_init, mults, shifts, out_c, c16)
    q = q.reshape(4, c16 // 16, 4, 4).transpose(1, 3, 0, 2).reshape(c16 // 16, 64)  # [group][j][field][i]: ch 4i+j
    zrow = np.full(c16, x_zp, np.int8).view("<i4").astype(np.int64)
    packed = np.concatenate([np.concatenate([wt.astype(np.int64), q], axis=1).reshape(-1), zrow])
    return arr(op, "mve_pack", packed.astype(np.int32), "int32_t")
