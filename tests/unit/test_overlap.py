"""Overlapping in-place (issue 5): a conv / depthwise conv / pooling output may start ``overlap_margin``
bytes below its dying input.

The strongest evidence is a simulation: each kernel's exact read/write order, transcribed from
firmware/kernels/conv.c (portable loop and the DSP pixel-pair im2col path), depthwise_conv.c (portable
32-channel blocks and the DSP 4-channel groups) and pooling.c, is replayed in Python on random
geometries; with the output at ``in_base - m`` no input byte may be written before its last read, for
the lowering's m and every larger m. The margin is also shown to be tight to within one output pixel
(a formula one pixel short fails), and the planner's overlap pairs are property-tested (no illegal
overlap, bounds).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from edgeq.ir import Buffer
from edgeq.passes.memory.liveness import Sharing, align, lower_bound
from edgeq.passes.memory.planner import check_plan, plan_with_overlaps
from edgeq.passes.lower.geometry import compute_out_size, compute_padding, raster_overlap_margin


def tap_range(origin: int, dil: int, k: int, n: int) -> tuple[int, int]:
    """edgeq_tap_range / edgeq_pool_window (dilation 1) of firmware/kernels/edgeq_common.h, as in C."""
    a = 0 if origin >= 0 else (-origin + dil - 1) // dil
    b = 0 if origin > n - 1 else min((n - 1 - origin) // dil + 1, k)
    return min(a, b), b


class Trace:
    """Read times per input byte and first write time per output byte."""

    def __init__(self, in_bytes: int, out_bytes: int):
        self.t = 0
        self.last_read = np.full(in_bytes, -1, np.int64)
        self.first_write = np.full(out_bytes, np.iinfo(np.int64).max, np.int64)

    def read(self, i: int, n: int = 1) -> None:
        self.t += 1
        self.last_read[i:i + n] = self.t

    def write(self, o: int, n: int = 1) -> None:
        self.t += 1
        fw = self.first_write[o:o + n]
        np.minimum(fw, self.t, out=fw)

    def safe(self, m: int) -> bool:
        """Output at in_base - m: every output byte o lands on input byte o - m; it must not be written
        while that input byte is still to be read."""
        o = np.arange(self.first_write.size)
        i = o - m
        hit = (i >= 0) & (i < self.last_read.size)
        return bool((self.first_write[hit] > self.last_read[i[hit]]).all())


def _windows(geo):
    for b in range(geo["batches"]):
        for oy in range(geo["out_h"]):
            iy0 = oy * geo["stride_h"] - geo["pad_h"]
            ky0, ky1 = tap_range(iy0, geo["dilation_h"], geo["k_h"], geo["in_h"])
            for ox in range(geo["out_w"]):
                ix0 = ox * geo["stride_w"] - geo["pad_w"]
                kx0, kx1 = tap_range(ix0, geo["dilation_w"], geo["k_w"], geo["in_w"])
                taps = [(b * geo["in_h"] + iy0 + ky * geo["dilation_h"]) * geo["in_w"] + ix0 + kx * geo["dilation_w"]
                        for ky in range(ky0, ky1) for kx in range(kx0, kx1)]
                yield (b * geo["out_h"] + oy) * geo["out_w"] + ox, taps


def trace_conv_portable(geo, in_c, out_c, fin) -> Trace:
    """edgeq_conv_s8: per pixel, per group, per output channel: the window's taps, then y[oc]."""
    groups, pg = in_c // fin, out_c // (in_c // fin)
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * in_c, geo["batches"] * geo["out_h"] * geo["out_w"] * out_c)
    for pix, taps in _windows(geo):
        for g in range(groups):
            for j in range(pg):
                for q in taps:
                    tr.read(q * in_c + g * fin, fin)
                tr.write(pix * out_c + g * pg + j)
    return tr


def trace_conv_dsp(geo, in_c, out_c) -> Trace:
    """conv_dsp: im2col of pixels pix and pix + 1 (all valid taps, every channel), then both pixels'
    outputs, channel pairs oc1 then oc; an odd last pixel is gathered twice."""
    wins = dict(_windows(geo))
    npix = len(wins)
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * in_c, npix * out_c)
    for pix in range(0, npix, 2):
        pb = pix + 1 if pix + 1 < npix else pix
        for p in (pix, pb):
            for q in wins[p]:
                tr.read(q * in_c, in_c)
        for oc in range(0, out_c, 2):
            oc1 = oc + 1 if oc + 1 < out_c else oc
            for c in (oc1, oc):
                tr.write(pix * out_c + c)
                tr.write(pb * out_c + c)
    return tr


def trace_dw_portable(geo, in_c, out_c) -> Trace:
    """edgeq_depthwise_conv_s8: per pixel, per block of 32 output channels: every valid tap's channels
    of the block (dm > 1: input channel oc / dm), then the block's outputs."""
    dm = out_c // in_c
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * in_c, geo["batches"] * geo["out_h"] * geo["out_w"] * out_c)
    for pix, taps in _windows(geo):
        for oc0 in range(0, out_c, 32):
            n = min(32, out_c - oc0)
            for q in taps:
                if dm == 1:
                    tr.read(q * in_c + oc0, n)
                else:
                    for j in range(n):
                        tr.read(q * in_c + (oc0 + j) // dm)
            tr.write(pix * out_c + oc0, n)
    return tr


def trace_dw_dsp(geo, c) -> Trace:
    """dw_dsp (any window, depth multiplier 1): per pixel, per 4-channel group: the taps' words (taps outside
    the input read a stack buffer), then the group's 4 output bytes. When c % 4 != 0, the last group
    (dw_dsp_tail) reads a whole word per tap but its lanes past c have zero weights, so only the real
    lanes' bytes matter; it stores only those."""
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * c, geo["batches"] * geo["out_h"] * geo["out_w"] * c)
    for pix, taps in _windows(geo):
        for g in range(0, c, 4):
            n = min(4, c - g)
            for q in taps:
                tr.read(q * c + g, n)
            tr.write(pix * c + g, n)
    return tr


def trace_pool(geo, c) -> Trace:
    """edgeq_avg_pool_s8 / edgeq_max_pool_s8: per pixel, per channel: the window's channel, then the byte."""
    tr = Trace(geo["batches"] * geo["in_h"] * geo["in_w"] * c, geo["batches"] * geo["out_h"] * geo["out_w"] * c)
    for pix, taps in _windows(geo):
        for ch in range(c):
            for q in taps:
                tr.read(q * c + ch)
            tr.write(pix * c + ch)
    return tr


@st.composite
def geometries(draw):
    k_h, k_w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    in_h, in_w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = draw(st.sampled_from(["SAME", "VALID"]))
    out_h = compute_out_size(padding, in_h, k_h, sh, dh)
    out_w = compute_out_size(padding, in_w, k_w, sw, dw)
    assume(out_h > 0 and out_w > 0)
    return dict(batches=draw(st.integers(1, 2)), in_h=in_h, in_w=in_w, out_h=out_h, out_w=out_w, k_h=k_h, k_w=k_w,
                stride_h=sh, stride_w=sw, dilation_h=dh, dilation_w=dw,
                pad_h=compute_padding(sh, dh, in_h, k_h, out_h), pad_w=compute_padding(sw, dw, in_w, k_w, out_w))


def _safe_from(tr: Trace, m: int) -> bool:
    """Safe at m and at every larger margin (beyond in + out bytes nothing overlaps)."""
    return all(tr.safe(x) for x in range(m, m + tr.last_read.size + tr.first_write.size + 1))


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(1, 6), st.integers(1, 3), st.integers(1, 6))
def test_conv_margin_is_safe_for_both_kernel_orders(geo, fin, groups, per_group):
    in_c, out_c = fin * groups, per_group * groups
    m = raster_overlap_margin(geo, in_c, out_c)
    assert m >= 0
    assert _safe_from(trace_conv_portable(geo, in_c, out_c, fin), m)
    if groups == 1:  # the DSP path is only taken for ungrouped convs
        assert _safe_from(trace_conv_dsp(geo, in_c, out_c), m)


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(1, 5), st.integers(1, 3))
def test_depthwise_margin_is_safe(geo, in_c, dm):
    m = raster_overlap_margin(geo, in_c, in_c * dm)
    assert _safe_from(trace_dw_portable(geo, in_c, in_c * dm), m)


@settings(max_examples=40, deadline=None)
@given(geometries(), st.sampled_from([1, 3, 4, 6, 8, 13, 36]))
def test_depthwise_dsp_margin_is_safe(geo, c):
    m = raster_overlap_margin(geo, c, c)
    assert _safe_from(trace_dw_dsp(geo, c), m)
    assert _safe_from(trace_dw_portable(geo, c, c), m)


@settings(max_examples=60, deadline=None)
@given(geometries(), st.integers(1, 6))
def test_pool_margin_is_safe(geo, c):
    geo = dict(geo, dilation_h=1, dilation_w=1)
    geo["out_h"] = compute_out_size("VALID", geo["in_h"] + 2 * geo["pad_h"], geo["k_h"], geo["stride_h"], 1)
    geo["out_w"] = compute_out_size("VALID", geo["in_w"] + 2 * geo["pad_w"], geo["k_w"], geo["stride_w"], 1)
    assume(geo["out_h"] > 0 and geo["out_w"] > 0)
    m = raster_overlap_margin(geo, c, c)
    assert _safe_from(trace_pool(geo, c), m)


def _geo(in_hw, k, stride, padding, batches=1):
    out = compute_out_size(padding, in_hw, k, stride, 1)
    p = compute_padding(stride, 1, in_hw, k, out)
    return dict(batches=batches, in_h=in_hw, in_w=in_hw, out_h=out, out_w=out, k_h=k, k_w=k, stride_h=stride,
                stride_w=stride, dilation_h=1, dilation_w=1, pad_h=p, pad_w=p)


@pytest.mark.parametrize("in_hw,k,stride,padding,in_c,out_c", [
    (8, 3, 1, "SAME", 4, 4), (9, 3, 1, "SAME", 3, 5), (8, 3, 2, "SAME", 4, 8), (6, 1, 1, "VALID", 6, 6),
    (7, 5, 1, "SAME", 2, 3),
])
def test_margin_is_tight_to_one_pixel(in_hw, k, stride, padding, in_c, out_c):
    """A margin one output pixel shorter (the off-by-one of using p instead of p + 1) corrupts the
    portable conv: the simulation can fail, and the formula is not loose."""
    geo = _geo(in_hw, k, stride, padding)
    m = raster_overlap_margin(geo, in_c, out_c)
    tr = trace_conv_portable(geo, in_c, out_c, in_c)
    assert _safe_from(tr, m)
    assert not tr.safe(m - out_c - 1)


def test_resnet8_block_margin():
    # 32x32x16 3x3 SAME stride 1: a pixel's last byte may not reach the window of the next pixels, which
    # starts one row and one pixel back: (32 + 2) pixels of 16 bytes
    assert raster_overlap_margin(_geo(32, 3, 1, "SAME"), 16, 16) == 34 * 16


# --- planner ----------------------------------------------------------------------------------------


@st.composite
def buffers_with_overlaps(draw):
    """Random buffers plus overlap pairs out -> (in, m): out is born where in dies, as the planner pairs
    them (each input used by at most one output)."""
    n = draw(st.integers(1, 25))
    bufs = []
    for i in range(n):
        first = draw(st.integers(-1, 20))
        bufs.append(Buffer("tensor", i, draw(st.integers(1, 3000)), first, draw(st.integers(first, 21))))
    overlaps: dict[Buffer, tuple[Buffer, int]] = {}
    for _ in range(draw(st.integers(0, 8))):
        src = draw(st.sampled_from(bufs))
        if src in {v[0] for v in overlaps.values()} or src.last >= 21 or src.first >= src.last:
            continue
        out = Buffer("tensor", len(bufs), draw(st.integers(1, 3000)), src.last, draw(st.integers(src.last + 1, 21)))
        bufs.append(out)
        overlaps[out] = (src, draw(st.integers(0, 3500)))
    return bufs, Sharing(overlap=overlaps)


@settings(max_examples=60, deadline=None)
@given(buffers_with_overlaps())
def test_overlap_plan_is_valid_and_respects_bounds(case):
    bufs, share = case
    offsets = plan_with_overlaps(bufs, share)
    assert check_plan(bufs, offsets, share) == []
    assert all(o % 16 == 0 and o >= 0 for o in offsets.values())
    # the pairs that do overlap honour their margin, byte for byte
    for bo, (bi, m) in share.overlap.items():
        shared = offsets[bo] < offsets[bi] + bi.size and offsets[bi] < offsets[bo] + bo.size
        assert not shared or offsets[bo] <= offsets[bi] - m
    size = max(offsets[b] + align(b.size) for b in bufs)
    lb = lower_bound(bufs, share)
    assert lb <= size
    assert lb <= lower_bound(bufs)  # sharing never raises the bound
    # never worse than not overlapping at all
    assert size <= max(plan_with_overlaps(bufs, Sharing())[b] + align(b.size) for b in bufs)


def T(i: int, size: int, first: int, last: int) -> Buffer:
    return Buffer("tensor", i, size, first, last)


def test_check_plan_catches_an_output_too_close_to_its_input():
    a, b = T(0, 1000, 0, 1), T(1, 1000, 1, 2)
    ov = Sharing(overlap={b: (a, 100)})
    assert check_plan([a, b], {a: 112, b: 0}, ov) == []
    assert check_plan([a, b], {a: 112, b: 16}, ov) == [(a, b)]  # 96 < 100 bytes below
    assert check_plan([a, b], {a: 0, b: 112}, ov) == [(a, b)]  # above the input: not allowed
    # not at the pair's op: buffers live together longer may never share
    a2, b2 = T(0, 1000, 0, 2), T(1, 1000, 1, 3)
    assert check_plan([a2, b2], {a2: 112, b2: 0}, Sharing(overlap={b2: (a2, 100)})) == [(a2, b2)]


def test_overlap_pair_chain_plan_and_bound():
    # a -> b -> c, each output allowed 64 bytes below its dying input: 1000 + 2 * 64 (drift), bound 1000 + 64
    a, b, c = T(0, 1000, -1, 0), T(1, 1000, 0, 1), T(2, 1000, 1, 2)
    bufs, ov = [a, b, c], Sharing(overlap={b: (a, 64), c: (b, 64)})
    offsets = plan_with_overlaps(bufs, ov)
    assert check_plan(bufs, offsets, ov) == []
    assert max(offsets[x] + align(x.size) for x in bufs) == align(1000) + 128
    assert lower_bound(bufs, ov) == align(1000) + 64


# --- whole graphs: schedule + plan with overlap pairs, executed on a simulated arena ---------------


def _win_geo(n: int, k: int) -> dict:
    """A 1 x n, 1-channel 'SAME' window of 2k + 1 taps: output pixel j reads inputs j - k .. j + k."""
    return dict(batches=1, in_h=1, in_w=n, out_h=1, out_w=n, k_h=1, k_w=2 * k + 1, stride_h=1, stride_w=1,
                dilation_h=1, dilation_w=1, pad_h=0, pad_w=k)


@st.composite
def window_graphs(draw):
    """Random DAGs of 'mixing' ops (every output byte reads all inputs) and raster window ops (output j
    written right after reading inputs j - k .. j + k; overlap_margin from raster_overlap_margin)."""
    from edgeq.ir import Graph, Lowered, Op, Tensor

    tensors = [Tensor(0, "in0", (draw(st.integers(1, 200)),), "int8")]
    ops = []
    for k in range(draw(st.integers(1, 10))):
        src = draw(st.sampled_from(range(len(tensors))))
        win = draw(st.booleans())
        size = tensors[src].numel if win else draw(st.integers(1, 200))
        out = len(tensors)
        tensors.append(Tensor(out, f"t{out}", (size,), "int8"))
        half = draw(st.integers(0, 3))
        margin = raster_overlap_margin(_win_geo(size, half), 1, 1) if win else None
        ins = (src,) if win else tuple(draw(st.lists(st.sampled_from(range(out)), min_size=1, max_size=2)))
        low = Lowered(f"k{k}", "s", "x", (), ins + (out,), scratch_bytes=draw(st.sampled_from([0, 0, 40])),
                      overlap_margin=margin)
        ops.append(Op(k, f"WIN{half}" if win else "MIX", ins, (out,), lowered=low))
    produced = {o.outputs[0] for o in ops}
    read = {t for o in ops for t in o.inputs}
    outputs = tuple(sorted((produced - read) | {ops[-1].outputs[0]}))
    return Graph(tuple(tensors), tuple(ops), (0,), outputs)


def _run(g, inputs, arena: bool):
    mem = np.zeros(max(g.plan.size, 1), np.int64) if arena else None
    own: dict[int, np.ndarray] = {}

    def view(t):
        if not arena:
            return own.setdefault(t, np.zeros(g.tensor(t).numel, np.int64))
        off = g.plan.offsets[t]
        return mem[off:off + g.tensor(t).numel]

    for t, v in inputs.items():
        view(t)[:] = v
    for op in g.ops:
        out = view(op.outputs[0])
        tag = int(op.lowered.kernel[1:])
        if op.lowered.scratch_bytes and arena:
            s = g.plan.scratch[op.id]
            mem[s:s + op.lowered.scratch_bytes] = -1
        if op.kind.startswith("WIN"):  # raster order: read the window of j, then write j
            half, x = int(op.kind[3:]), view(op.inputs[0])
            for j in range(len(out)):
                w = [int(x[i]) for i in range(max(j - half, 0), min(j + half + 1, len(x)))]
                out[j] = (sum(w) * 5 + j + tag) % 251
        else:
            for j in range(len(out)):
                out[j] = (sum(int(view(t).sum()) for t in op.inputs) + j * 7 + tag) % 251
    return {t: view(t).copy() for t in g.outputs}


@settings(max_examples=80, deadline=None)
@given(window_graphs(), st.randoms(use_true_random=False))
def test_overlapping_plans_compute_the_same_bytes(g, rnd):
    from edgeq.passes.graph.schedule import schedule_memory, schedule_peak
    from edgeq.passes.memory.planner import plan_memory, plan_violations

    planned = plan_memory(schedule_memory(g))  # raises if check_plan finds an illegal overlap
    assert plan_violations(planned) == []
    assert planned.plan.size >= planned.plan.lower_bound == schedule_peak(planned)
    assert schedule_peak(planned) <= schedule_peak(g)
    ins = {0: np.array([rnd.randrange(251) for _ in range(g.tensor(0).numel)])}
    want = _run(plan_memory(g), ins, arena=False)
    got = _run(planned, ins, arena=True)
    for t in want:
        np.testing.assert_array_equal(got[t], want[t])


def test_overlap_lets_a_window_chain_share():
    # x (16 B) -> MIX -> a -> WIN1 -> b -> WIN1 -> c (1000 B each): b starts 16 B (the aligned 2-byte margin)
    # below a, c 16 B below b, x in the 32 B under a that c takes later: 1008 + 2 * 16 instead of 2 x 1008
    from edgeq.ir import Graph, Lowered, Op, Tensor
    from edgeq.passes.memory.planner import plan_memory

    t = (Tensor(0, "x", (16,), "int8"),) + tuple(Tensor(i, f"t{i}", (1000,), "int8") for i in (1, 2, 3))
    m = raster_overlap_margin(_win_geo(1000, 1), 1, 1)
    assert m == 2
    ops = (Op(0, "MIX", (0,), (1,), lowered=Lowered("k0", "s", "x", (), (0, 1))),) + tuple(
        Op(i, "WIN1", (i,), (i + 1,), lowered=Lowered(f"k{i}", "s", "x", (), (i, i + 1), overlap_margin=m))
        for i in (1, 2))
    g = plan_memory(Graph(t, ops, (0,), (3,)))
    assert g.plan.size == align(1000) + 2 * 16
    assert g.plan.lower_bound == align(1000) + 16
    off = g.plan.offsets
    assert off[1] - off[2] == off[2] - off[3] == 16
    plain = tuple(dataclasses.replace(op, lowered=dataclasses.replace(op.lowered, overlap_margin=None)) for op in ops)
    no_overlap = plan_memory(Graph(t, plain, (0,), (3,)))
    assert no_overlap.plan.size == 2 * align(1000)
