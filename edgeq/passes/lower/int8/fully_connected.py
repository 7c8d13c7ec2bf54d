"""FULLY_CONNECTED, int8 (per-tensor or per-channel weights), as TFLite's reference kernel.

The input offset is folded into the bias (``bias + input_offset * sum(w[o])``, int32 wrap-around,
which equals the reference's int32 sum), so the kernel multiplies the raw int8 inputs. The weights of two
neighbouring output rows r, r+1 are merged into one int16 per input, ``v = w[r+1][i] + 256 * w[r][i]``
(fits: |w| <= 127). Multiplying the inputs by v accumulates ``A_{r+1} + 256 * A_r`` (mod 2^32); by the
sign-extended low byte of v, ``A_{r+1}`` alone; their difference / 256 is ``A_r``. On the DSP path a packed
word holds two such int16 lanes: one SMLAD on it and one SMLAD on its SXTB16 are four multiply-accumulates
(two inputs x two rows), where the plain layout needs two SXTB16 and two SMLAD. The kernel separates the two
sums once per row when the weights allow it (``fc_chunk``: ``256 * A_r`` stays inside int32), else every
<= 515 inputs, where |A| <= 515 * 128 * 127 < 2^23.
Weights of -128 (not produced by TFLite's symmetric quantization) pair each row with a zero row instead
(``sparse``; half the speed).

int4 weights (the int8x4 scheme) run edgeq_fully_connected_s4 on the weights as TFLite packs them (two a
byte, decoded a row at a time), with the same folded bias; measured in tests/kernels/test_int4.py. So do
clustered int8 weights (at most 16 values per row, 128 in a model edgeq clustered: conv.cb_most; where that takes
fewer bytes): b-bit indices, b from 2 to 7
(at most 2^b values in every row) into the row's codebook of 2^b entries, the layer's distinct
codebooks stored once and a byte a row naming its own (edgeq.passes.lower.int8.conv.codebook_fields).

On Helium cores (``--cpu mve``) the kernel reads the plain int8 matrix instead (``weights_s8``, at least 4
rows, zero rows past the output; fully_connected_mve.h: VMLADAVA.S8 over 16 lanes, no pairing, -128 weights
included) with the same folded bias; the packed words are not emitted.

Rows are processed eight at a time (four pairs sharing each widened input word; the output is padded to a
multiple of eight with zero rows that are never stored). For each group and each step of four inputs
x0..x3 the int32 array holds two words per pair, each of two int16 lanes, in the lane order SXTB16 produces
from the input word: ``P(x0, x2)``, ``P(x1, x3)`` for the pairs P = A, B, C, D of the group in order (A =
rows 0/1, B = rows 2/3, ...). The last ``in % 4`` inputs follow per group, for each input the words
``(vA[i], vB[i])``, ``(vC[i], vD[i])``.
"""

from __future__ import annotations

import numpy as np

from edgeq.ir import Graph, Lowered, Op
from edgeq.passes.lower.common import (arr, channel_multipliers, const_bias, expect_dtype, fused_clamp, need,
                                       requant_fields, rounding_flag, zp)
from edgeq.passes.lower.int8.conv import cb_most, codebook, codebook_fields, packed_s4
from edgeq.passes.lower.registry import LowerCtx, lowering


def _wrap_i32(v: np.ndarray) -> np.ndarray:
    return ((v.astype(np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


FC_GROUP_ROWS = 8  # rows per pass of the kernel (EDGEQ_FC_GROUP in firmware/kernels/fully_connected.c)


def pack_weights(w: np.ndarray) -> np.ndarray:
    """The int32 words of the packed layout (see module doc) of int8 weights [out, in] in [-127, 127]
    (or whose even rows are zero: the sparse pairing)."""
    out_f, in_f = w.shape
    rows = out_f + (-out_f % FC_GROUP_ROWS)
    wp = np.zeros((rows, in_f), np.int32)
    wp[:out_f] = w.astype(np.int32)
    in4 = in_f // 4 * 4
    words = []
    for r0 in range(0, rows, FC_GROUP_ROWS):
        g = wp[r0:r0 + FC_GROUP_ROWS]
        pairs = FC_GROUP_ROWS // 2
        v = (g[1::2] + 256 * g[0::2]).astype(np.int64) & 0xFFFF  # pair, input: int16 lanes as halfwords
        main = v[:, :in4].reshape(pairs, in4 // 4, 4)               # pair, step, input in step
        step = main[..., [0, 1]] | (main[..., [2, 3]] << 16)        # lanes (x0, x2), (x1, x3)
        words.append(step.transpose(1, 0, 2).reshape(-1))           # step, pair, word
        tail = v[:, in4:]                                           # pair, tail input
        words.append((tail[0::2] | (tail[1::2] << 16)).T.reshape(-1))  # tail input, pair couple
    return _wrap_i32(np.concatenate(words))


# A model whose FULLY_CONNECTED layers have at most this many weights each calls
# edgeq_fully_connected_s8_compact (fully_connected.h): resnet8's and kws's heads (640, 768 weights) save the
# assembly loop's ~0.8 KB of code for ~1,500 instructions each.
FC_COMPACT_MACS = 4096


def _fc_macs(g: Graph, op: Op) -> int:
    """The weights of a FULLY_CONNECTED (MACs per batch row); 0 when they are not a constant matrix."""
    w = g.tensor(op.inputs[1]) if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    return int(np.prod(w.shape)) if w is not None and w.is_const else 0

FC_CHUNK = 128  # steps of 4 inputs per separation that any int8 row allows (see fc_chunk)


def fc_chunk(w: np.ndarray) -> int:
    """Steps of four inputs the kernel may accumulate before it separates the row-pair sums: the high row
    of a pair (row r, rows 0, 2, ...) enters the raw sum as 256 * A_r, exact (mod 2^32 with the low row)
    while |256 * A_r| < 2^31: |A_r| <= 128 * sum|w_r| over the inputs of a chunk. All the steps when every
    high row allows it (then one chunk), else FC_CHUNK (128 steps + 3 tail inputs: 515 * 128 * 127 < 2^23)."""
    steps = w.shape[1] // 4
    high = np.abs(w[0::2].astype(np.int64)).sum(axis=1) if w.shape[0] else np.zeros(1, np.int64)
    return max(1, steps) if 128 * int(high.max(initial=0)) < (1 << 23) else FC_CHUNK


def fold_bias(w: np.ndarray, bias: np.ndarray | None, input_offset: int) -> np.ndarray:
    """bias + input_offset * sum(w[o]) per output, wrapped to int32 like the reference's int32 sum."""
    b = np.zeros(w.shape[0], np.int64) if bias is None else bias.astype(np.int64)
    return _wrap_i32(b + input_offset * w.astype(np.int64).sum(axis=1))


@lowering("FULLY_CONNECTED")
def lower_fully_connected(g: Graph, op: Op, ctx: LowerCtx) -> Lowered:
    x, w = g.tensor(op.inputs[0]), g.tensor(op.inputs[1])
    y = g.tensor(op.outputs[0])
    expect_dtype(x, "int8")
    expect_dtype(w, "int8", "int4")
    expect_dtype(y, "int8")
    need(w.is_const, "weights are not constant")
    need(op.attrs.get("weights_format", 0) == 0, "shuffled weights format")
    need(len(w.shape) == 2, f"weights of shape {w.shape} are not [out, in]")
    out_f, in_f = w.shape
    need(x.numel % in_f == 0, f"input of {x.numel} elements is not a multiple of {in_f}")
    mults, shifts = channel_multipliers(x, w, y, out_f)
    lo, hi = fused_clamp(op, y)
    b = const_bias(g, op, 2, out_f)
    wd = np.asarray(w.data).reshape(out_f, in_f).astype(np.int32)
    bias = fold_bias(wd, None if b is None else np.asarray(b.data), -zp(x))
    cb = codebook(wd, cb_most(g)) if w.dtype == "int8" else None
    cbf = None if cb is None else codebook_fields(op, cb)

    def call(kernel: str, out_features: int, sparse: int, weights, bias_values, mults, shifts, extra=(),
             scratch: int = 0, chunk: int = FC_CHUNK) -> Lowered:
        """The kernel call with the fields every FULLY_CONNECTED variant shares, then the variant's own."""
        return Lowered(
            kernel=kernel,
            struct="edgeq_fully_connected_s8_params",
            source="fully_connected",
            fields=(
                ("batches", x.numel // in_f), ("in_features", in_f), ("out_features", out_features),
                ("sparse", sparse), ("chunk", chunk),
                *requant_fields(zp(y), lo, hi, rounding_flag(ctx, litert_single=True)),
                ("per_channel", int(len(mults) > 1)),
                ("weights", weights),
                ("bias", arr(op, "bias", bias_values, "int32_t")),
                ("mult", arr(op, "mult", np.array(mults, np.int32), "int32_t")),
                ("shift", arr(op, "shift", np.array(shifts, np.int32), "int32_t")),
                *extra,
            ),
            args=(x.id, y.id),
            scratch_bytes=scratch,
        )

    if w.dtype == "int4" or cbf is not None:  # weights: the packed int4 matrix, or the codebook indices
        weights, extra = (packed_s4(g, w.id), (("codebook", None), ("cb_map", None), ("cb_bits", 0))) \
            if cbf is None else cbf[:2]
        return call("edgeq_fully_connected_s4", out_f, 0, weights, bias, mults, shifts, extra,
                    scratch=in_f)  # edgeq_fully_connected_s4_scratch_bytes
    if ctx.cpu == "mve":  # the Helium body (fully_connected_mve.h): plain int8 rows, at least 4 of them
        rows = max(out_f, 4)
        w8 = np.zeros((rows, in_f), np.int8)
        w8[:out_f] = wd
        return call("edgeq_fully_connected_s8", out_f, 0, None,
                    np.concatenate([bias, np.zeros(rows - out_f, np.int32)]), mults, shifts,
                    (("weights_s8", arr(op, "w8", w8, "int8_t")),))
    sparse = int(int(wd.min(initial=0)) < -127)
    if sparse:
        # A weight of -128 does not fit the row-pair int16 (nor its overflow bound): pair every row with a
        # zero row instead (virtual rows 2o, 2o + 1, the zero row first so that the real one is the low byte
        # of the pair's int16; the kernel stores only the odd ones).
        wd = np.stack([np.zeros_like(wd), wd], axis=1).reshape(2 * out_f, in_f)
        bias = np.repeat(bias, 2)
        if len(mults) > 1:
            mults, shifts = list(np.repeat(mults, 2)), list(np.repeat(shifts, 2))
    # in a model whose FULLY_CONNECTED layers are all small (a classifier head) they run the C sums: a few
    # hundred instructions more cost less than the assembly loop's code; with a large one, all take the loop
    compact = all(_fc_macs(g, o) <= FC_COMPACT_MACS for o in g.ops if o.kind == "FULLY_CONNECTED")
    kernel = "edgeq_fully_connected_s8_compact" if compact else "edgeq_fully_connected_s8"
    return call(kernel, wd.shape[0], sparse, arr(op, "wpacked", pack_weights(wd), "int32_t"),
                bias, mults, shifts, chunk=fc_chunk(wd))
