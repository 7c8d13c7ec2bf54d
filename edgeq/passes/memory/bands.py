"""Row-band execution of high-resolution window-op chains (MCUNetV2's patch-based inference, by rows).

A chain ``X -> op_1 -> T_1 -> op_2 -> ... -> op_k -> T_k`` of CONV_2D / DEPTHWISE_CONV_2D ops (any kernel
size, stride, padding, dilation; batch 1), each intermediate ``T_i`` read only by the next op, optionally
followed by an ADD of ``T_k`` and ``X`` (a residual block; same shapes), holds ``X``, ``T_{k-1}`` and ``T_k``
whole at once when run op by op. Run in bands of R output rows of the last op, the chain needs of each
intermediate only the rows the next op's band reads: for band b, op_k's rows [bR, bR + R) read rows
[lo, hi) of ``T_{k-1}``, which op_{k-1} computes into a buffer of (hi - lo) rows, and so on back to ``X``.
Rows the next band still needs are slid down the buffer with a memmove rather than recomputed (so nothing
is computed twice). With the residual ADD, op_k's rows wait in a buffer until no later band reads the rows
of ``X`` they are added to (the lag), then the ADD writes them, over ``X`` when the planner places the
output there. Where the ADD offers its tables built at run time (int8 ADD/SUB, a scratch option) and the planned
arena is no larger with them, they live in the group's scratch after the buffers: the ADD's first call builds them,
its later calls (rt_ready) read them, so the fill runs once per inference.

Each band is a call of the unchanged kernel on a row slice: the input pointer at the first row the band
reads, ``in_h`` the rows there, ``out_h`` the band's rows and ``pad_h`` what is left of the top padding
(the real one for the first band, 0 for the others; taps beyond ``in_h`` are padding, so the last slice
ends at the real bottom). The kernels index rows only from these fields and skip taps outside
``[0, in_h)`` (conv.c, depthwise_conv.c and their DSP and Helium bodies, the int4 / codebook kernels), so
a slice computes exactly the rows of the whole call. Consecutive bands whose calls and moves are the
same with pointers advancing by constant steps become one loop.

The pass rewrites a chain only where the planned arena gets smaller by MIN_GAIN of itself or more (bands
cost calls and memmoves), choosing the band height by the planned arena (ties: the tallest band, fewest
calls), one chain at a time (the one that lowers the arena most), until no chain helps. The memory planner
sees the group as its member steps: each reads ``X``, the first holds the group's scratch (kernel scratch,
band buffers, the ADD's tables) over all of them, the last writes the output (``passes.memory.liveness``).

Code generation emits a planned group either as its calls unrolled (segments of several bands as loops) or,
where that takes less flash (:func:`band_table`), as a table: one row per call (the op's params, the slide
before it, the data offsets and their per-band steps, ``in_h`` / ``out_h`` / ``pad_h``) walked by one loop
that calls each kernel on a copy of the op's params with the row's fields set, so the per-band params
variants are not stored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgeq.ir import ArrayRef, Graph, Lowered, Op
from edgeq.ir.graph import BandCall, BandGroup, BandMove, BandPtr, BandSegment
from edgeq.passes.graph.schedule import renumber
from edgeq.passes.memory.liveness import align
from edgeq.passes.memory.planner import plan_memory
from edgeq.passes.memory.scratch import with_option

WINDOW_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D")
# Kernels checked to compute a row slice exactly (rows only through in_h / out_h / pad_h, batch 1):
# portable, DSP and Helium bodies of each.
SLICE_KERNELS = frozenset({"edgeq_conv_s8", "edgeq_conv_s8_im2col", "edgeq_conv_s4", "edgeq_conv_s4_im2col",
                           "edgeq_conv_cb_im2col", "edgeq_conv_cbw_im2col",
                           "edgeq_depthwise_conv_s8", "edgeq_depthwise_conv_s8_dsp", "edgeq_depthwise_conv_s8_dsp_any",
                           "edgeq_depthwise_conv_s4", "edgeq_depthwise_conv_cb", "edgeq_depthwise_conv_cb_dsp",
                           "edgeq_depthwise_conv_cb_dsp_any"})
ADD_KERNELS = frozenset({"edgeq_add_s8", "edgeq_add_s8_table"})
MAX_CHAIN = 4  # window ops in one group
ROW_CHOICES = (1, 2, 4, 8, 16)
# A group costs calls, memmoves and, on the DSP conv (pixel pairs), a duplicated pixel per call when a band
# has an odd pixel count: kws's first conv and depthwise conv in bands of one 5-pixel row plan 352 B less
# (3.5%) for 4.5% more instructions on the M4; MobileNetV1-0.25 96x96's first stage in bands plans 46,208 ->
# 41,984 B (9%, the arena already 0.45x TFLM's) for 1.9% more (11.80 M -> 12.03 M). So a group must shrink the
# arena by this fraction of it (resnet8's first stage: 33,888 -> 26,336 B, 22%).
MIN_GAIN = 1 / 8


@dataclass(frozen=True)
class Chain:
    ops: tuple[Op, ...]  # the window ops, then the residual ADD if any
    residual: bool

    @property
    def window(self) -> tuple[Op, ...]:
        return self.ops[:-1] if self.residual else self.ops


def _fields(op: Op) -> dict:
    return dict(op.lowered.fields)


def _window_ok(g: Graph, op: Op) -> bool:
    low = op.lowered
    if op.kind not in WINDOW_KINDS or low is None or low.band is not None or low.kernel not in SLICE_KERNELS:
        return False
    f = _fields(op)
    x, y = g.tensor(op.inputs[0]), g.tensor(op.outputs[0])
    return (f.get("batches") == 1 and low.args[0] == op.inputs[0] and low.args[-1] == op.outputs[0]
            and x.dtype == y.dtype == "int8" and not x.is_const and x.alias_of is None and y.alias_of is None)


def chains(g: Graph) -> list[Chain]:
    """Every chain (2..MAX_CHAIN window ops, then the residual ADD where there is one) the pass may band."""
    cons = g.consumers()
    by_id = {op.id: op for op in g.ops}
    keep = set(g.outputs) | {p.input for p in g.state} | {p.output for p in g.state}
    out: list[Chain] = []
    for op in g.ops:
        if not _window_ok(g, op) or g.storage(op.inputs[0]) in keep - set(g.inputs):
            continue
        seq = [op]
        while len(seq) < MAX_CHAIN:
            t = seq[-1].outputs[0]
            nxt = cons.get(t, [])
            if t in keep or len(nxt) != 1:
                break
            n = by_id[nxt[0]]
            if not _window_ok(g, n) or n.inputs[0] != t or list(n.inputs).count(t) != 1:
                break
            seq.append(n)
            out.append(Chain(tuple(seq), False))
            add = _residual(g, seq, cons, by_id, keep)
            if add is not None:
                out.append(Chain(tuple(seq) + (add,), True))
    return out


def _residual(g: Graph, seq: list[Op], cons, by_id, keep) -> Op | None:
    t, x = seq[-1].outputs[0], seq[0].inputs[0]
    nxt = cons.get(t, [])
    if t in keep or len(nxt) != 1:
        return None
    add = by_id[nxt[0]]
    low = add.lowered
    if add.kind != "ADD" or low is None or low.kernel not in ADD_KERNELS or low.band is not None:
        return None
    if sorted(add.inputs) != sorted((t, x)) or t == x or _fields(add).get("ndim") != 1:
        return None
    shapes = {g.tensor(t).shape, g.tensor(x).shape, g.tensor(add.outputs[0]).shape}
    return add if len(shapes) == 1 and g.tensor(add.outputs[0]).alias_of is None else None


# --- the band schedule ------------------------------------------------------------------------------

@dataclass
class _Geo:
    in_h: int
    in_row: int
    out_h: int
    out_row: int
    k_h: int
    stride: int
    dil: int
    pad: int

    def reads(self, a: int, c: int) -> tuple[int, int]:
        """Input rows [lo, hi) output rows [a, c) read (clipped to the tensor)."""
        lo = a * self.stride - self.pad
        hi = (c - 1) * self.stride - self.pad + (self.k_h - 1) * self.dil + 1
        return max(lo, 0), min(hi, self.in_h)


def _geo(op: Op) -> _Geo:
    f = _fields(op)
    return _Geo(f["in_h"], f["in_w"] * f["in_c"], f["out_h"], f["out_w"] * f["out_c"], f["k_h"], f["stride_h"],
                f["dilation_h"], f["pad_h"])


def _band_ranges(geos: list[_Geo], rows: int) -> list[list[tuple[int, int, int, int]]]:
    """Per band, per window op i: (a, c, lo, hi): the new output rows [a, c) op i computes and the input rows
    [lo, hi) it reads (for i > 0, rows of T_{i-1} that its buffer must hold)."""
    k = len(geos)
    done = [0] * k  # rows of T_i computed so far
    bands = []
    for r0 in range(0, geos[-1].out_h, rows):
        spans: list[tuple[int, int, int, int]] = [None] * k  # type: ignore[list-item]
        a, c = r0, min(r0 + rows, geos[-1].out_h)
        for i in reversed(range(k)):
            lo, hi = geos[i].reads(a, c) if a < c else (0, 0)
            spans[i] = (a, c, lo, hi)
            if i:
                a, c = max(done[i - 1], lo), hi
        for i in range(k):
            if spans[i][0] < spans[i][1]:
                done[i] = spans[i][1]
        bands.append(spans)
    return bands


def _with_fields(low: Lowered, **values) -> Lowered:
    return dataclasses.replace(low, fields=tuple((k, values.get(k, v)) for k, v in low.fields))


def add_tables_option(chain: Chain) -> tuple[int, tuple] | None:
    """The residual ADD's run-time tables (its scratch option naming another kernel, passes.lower.int8.elementwise
    add_rt_options): (scratch bytes, changes), or None where the chain has no ADD or its ADD offers none."""
    if not chain.residual:
        return None
    opts = chain.ops[-1].lowered.scratch_options
    return opts[-1] if len(opts) > 1 and "kernel" in dict(opts[-1][1]) else None


def build_group(g: Graph, chain: Chain, rows: int, tables: bool = False) -> BandGroup | None:
    """The band schedule of ``chain`` with bands of ``rows`` output rows (None: a single band, or shapes
    that do not chain). ``tables``: the residual ADD's run-time tables (add_tables_option) live in the group's
    scratch, built by its first call (rt_ready 0) and read by the later ones (rt_ready 1)."""
    win = chain.window
    k = len(win)
    geos = [_geo(op) for op in win]
    if any(geos[i].out_h != geos[i + 1].in_h or geos[i].out_row != geos[i + 1].in_row for i in range(k - 1)):
        return None
    if rows >= geos[-1].out_h:
        return None
    ranges = _band_ranges(geos, rows)
    x, y = win[0].inputs[0], chain.ops[-1].outputs[0]
    nbuf = k if chain.residual else k - 1  # T_1 .. T_{k-1}, and T_k's rows waiting for the ADD
    buf_lo, buf_hi, cap = [0] * nbuf, [0] * nbuf, [0] * nbuf
    # X rows op_1 starts reading at in each band that runs it: a residual row r is added (and written over
    # X row r) once no later band reads X row r
    first_lo = [spans[0][2] if spans[0][0] < spans[0][1] else None for spans in ranges]
    rt = add_tables_option(chain) if tables else None
    if tables and rt is None:
        return None
    add_low = with_option(chain.ops[-1].lowered, *rt) if rt else chain.ops[-1].lowered
    filled = 0  # the ADD's tables built (by its first call)
    params: dict[tuple, int] = {}
    variants: list[tuple[int, Lowered]] = []
    moved = calls = 0

    def variant(op: Op, key: tuple, low: Lowered) -> int:
        if (op.id, key) not in params:
            params[(op.id, key)] = len(variants)
            variants.append((op.id, low))
        return params[(op.id, key)]

    # ("move", buf, src_row, rows) / ("call", params, *ptrs, scratch): ("scratch",) the kernel scratch, ("tables",)
    # the ADD's tables, None
    symbolic: list[list[tuple]] = []
    for b, spans in enumerate(ranges):
        band: list[tuple] = []
        for i, op in enumerate(win):
            a, c, lo, hi = spans[i]
            if a >= c:
                continue
            if i < k - 1:  # T_i's buffer keeps the rows op_{i+1} reads in this band, slid to its start
                keep_lo = spans[i + 1][2]
                n_keep = max(buf_hi[i] - max(keep_lo, buf_lo[i]), 0)
                if n_keep and keep_lo > buf_lo[i]:
                    band.append(("move", i, keep_lo - buf_lo[i], n_keep))
                    moved += n_keep * geos[i].out_row
                if a != max(buf_hi[i], keep_lo):
                    return None
                buf_lo[i], buf_hi[i] = keep_lo, c
                out = ("buf", i, a - keep_lo)
            elif chain.residual:  # T_k's rows wait at the start of their buffer
                if buf_hi[i] == buf_lo[i]:
                    buf_lo[i] = buf_hi[i] = a
                if a != buf_hi[i]:
                    return None
                out = ("buf", i, a - buf_lo[i])
                buf_hi[i] = c
            else:
                out = ("y", a * geos[i].out_row)
            if i < nbuf:
                cap[i] = max(cap[i], buf_hi[i] - buf_lo[i])
            src = ("x", lo * geos[0].in_row) if i == 0 else ("buf", i - 1, lo - buf_lo[i - 1])
            pad = lo + geos[i].pad - a * geos[i].stride
            key = (hi - lo, c - a, pad)
            p = variant(op, key, _with_fields(op.lowered, in_h=hi - lo, out_h=c - a, pad_h=pad))
            band.append(("call", p, src, out, ("scratch",) if op.lowered.scratch_bytes > 0 else None))
            calls += 1
        if chain.residual:
            add, t_k, row = chain.ops[-1], win[-1].outputs[0], geos[-1].out_row
            later = [v for v in first_lo[b + 1:] if v is not None]
            r0, r1 = buf_lo[k - 1], min(buf_hi[k - 1], later[0] if later else geos[0].in_h)
            if r1 > r0:
                shape = dict(add_low.fields)["shape"]
                ready = {"rt_ready": filled} if rt else {}
                low = _with_fields(add_low, shape=ArrayRef(f"{shape.name}_rows{r1 - r0}", shape.ctype,
                                                         np.array([(r1 - r0) * row], np.int32)), **ready)
                p = variant(add, (r1 - r0, filled), low)
                filled = 1
                ins = tuple(("buf", k - 1, 0) if t == t_k else ("x", r0 * row) for t in add_low.args[:-1])
                band.append(("call", p, *ins, ("y", r0 * row), ("tables",) if rt else None))
                calls += 1
                if buf_hi[k - 1] > r1:  # rows still waiting: slid to the start
                    band.append(("move", k - 1, r1 - r0, buf_hi[k - 1] - r1))
                    moved += (buf_hi[k - 1] - r1) * row
                buf_lo[k - 1] = r1
        symbolic.append(band)
    if chain.residual and buf_hi[k - 1] != buf_lo[k - 1]:
        return None
    # scratch: the largest kernel scratch at offset 0 (aligned), then the buffers, then the ADD's tables
    off = align(max(op.lowered.scratch_bytes for op in win))
    base = []
    for i in range(nbuf):
        base.append(off)
        off += align(cap[i] * geos[i].out_row)
    at_tables = off
    off += align(rt[0]) if rt else 0

    def ptr(sym: tuple) -> BandPtr:
        if sym[0] == "x":
            return BandPtr(x, sym[1])
        if sym[0] == "y":
            return BandPtr(y, sym[1])
        if sym[0] in ("scratch", "tables"):
            return BandPtr(None, 0 if sym[0] == "scratch" else at_tables)
        return BandPtr(None, base[sym[1]] + sym[2] * geos[sym[1]].out_row)

    bands: list[tuple] = []
    for band in symbolic:
        steps = []
        for s in band:
            if s[0] == "move":
                _, i, src_row, n = s
                steps.append(BandMove(ptr(("buf", i, 0)), ptr(("buf", i, src_row)), n * geos[i].out_row))
            else:
                args = tuple(ptr(a) for a in s[2:-1]) + ((ptr(s[-1]),) if s[-1] else ())
                steps.append(BandCall(s[1], args))
        bands.append(tuple(steps))
    return BandGroup(ops=tuple(op.id for op in chain.ops), input=x, output=y, rows=rows, scratch_bytes=off,
                     params=tuple(variants), segments=_segments(bands), inplace=chain.residual, calls=calls,
                     moved_bytes=moved)


def _ptrs(steps: tuple) -> list[BandPtr]:
    out = []
    for s in steps:
        out += [s.dst, s.src] if isinstance(s, BandMove) else list(s.args)
    return out


def _shape(steps: tuple) -> tuple:
    """What must be equal for two bands to share a loop: every step but the tensor pointers' offsets."""
    return tuple((type(s).__name__, s.bytes if isinstance(s, BandMove) else s.params) for s in steps) + tuple(
        (p.tensor, p.offset if p.tensor is None else None) for p in _ptrs(steps))


def _segments(bands: list[tuple]) -> tuple[BandSegment, ...]:
    """Runs of bands equal but for tensor pointers advancing by constant steps, as loops."""
    segs: list[BandSegment] = []
    i = 0
    while i < len(bands):
        j = i + 1
        delta = None
        while j < len(bands) and _shape(bands[j]) == _shape(bands[i]):
            d = tuple(q.offset - p.offset for p, q in zip(_ptrs(bands[j - 1]), _ptrs(bands[j])))
            if delta is not None and d != delta:
                break
            delta = d
            j += 1
        steps = bands[i]
        if j - i > 1:
            it = iter(delta)
            steps = tuple(_stepped(s, it) for s in steps)
        segs.append(BandSegment(j - i, steps))
        i = j
    return tuple(segs)


def _stepped(s, it):
    if isinstance(s, BandMove):
        return BandMove(dataclasses.replace(s.dst, step=next(it)), dataclasses.replace(s.src, step=next(it)), s.bytes)
    return BandCall(s.params, tuple(dataclasses.replace(p, step=next(it)) for p in s.args))


# --- applying a group -------------------------------------------------------------------------------

def apply_group(g: Graph, chain: Chain, rows: int, tables: bool = False) -> Graph | None:
    """``g`` with ``chain`` run in bands of ``rows`` (members moved next to the first, ids renumbered), the
    residual ADD's run-time tables in the group's scratch where ``tables`` (build_group), or None when the chain
    cannot be banded that way."""
    members = {op.id for op in chain.ops}
    first = chain.ops[0].id
    order = []
    for op in g.ops:
        if op.id == first:
            order += list(chain.ops)
        elif op.id not in members:
            order.append(op)
    moved = renumber(dataclasses.replace(g, ops=tuple(order), plan=None))
    new_ids = {old.id: new.id for old, new in zip(order, moved.ops)}
    chain = Chain(tuple(moved.ops[new_ids[op.id]] for op in chain.ops), chain.residual)
    grp = build_group(moved, chain, rows, tables)
    if grp is None:
        return None
    ops = tuple(dataclasses.replace(op, lowered=dataclasses.replace(op.lowered, band=grp))
                if op.id in grp.ops else op for op in moved.ops)
    return dataclasses.replace(moved, ops=ops)


def _chain_key(chain: Chain) -> tuple:
    return tuple(op.outputs[0] for op in chain.ops)


def _peak_steps(g: Graph) -> set[int]:
    """Schedule steps where the most bytes are live (``MemoryPlan.live`` starts at step -1)."""
    live = g.plan.live
    top = max(live, default=0)
    return {i - 1 for i, v in enumerate(live) if v == top}


def band_chains(g: Graph) -> Graph:
    """Rewrite chains into banded groups while that lowers the planned arena (see the module docstring),
    one at a time: each round, every chain over a peak step of the current plan, with each band height;
    the smallest arena wins (ties: the tallest band). The winner's residual ADD, where it offers run-time
    tables, takes them into the group's scratch if the planned arena is no larger with them. Returns the graph
    planned (``plan_memory``)."""
    best = plan_memory(g)
    while True:
        peak = _peak_steps(best)
        found, how = None, None
        for chain in chains(best):
            if not any(op.id in peak for op in chain.ops):
                continue
            for rows in ROW_CHOICES:
                cand = apply_group(best, chain, rows)
                if cand is None:
                    break
                cand = plan_memory(cand)
                if cand.plan.size >= best.plan.size:
                    break  # taller bands hold more rows
                if found is None or cand.plan.size <= found.plan.size:
                    found, how = cand, (chain, rows)
        if found is None or best.plan.size - found.plan.size < best.plan.size * MIN_GAIN:
            return best
        if add_tables_option(how[0]) is not None:
            tables = apply_group(best, *how, tables=True)
            tables = tables and plan_memory(tables)
            if tables is not None and tables.plan.size <= found.plan.size:
                found = tables
        best = found


# --- the band table: a planned group as data ---------------------------------------------------------

#: The fields in which the variants of a window op differ (``build_group``); a table call sets them on a copy
#: of the op's first variant.
ROW_FIELDS = ("in_h", "out_h", "pad_h")
# Bytes of Cortex-M4 Thumb-2 code (arm-none-eabi-gcc 12 -O2, bench build) fitted to the generated model_invoke of
# MobileNetV1-0.25 (16 calls, 6 slides, 2 cases: the table form 96 B smaller) and resnet8 (12 calls, 3 slides,
# 2 cases: 20 B smaller): an unrolled call and slide; the table walker and each case of its switch.
UNROLLED_CALL, UNROLLED_MOVE = 13, 8
WALKER, WALKER_CASE = 80, 40


@dataclass(frozen=True)
class TableCase:
    """One kernel call shape of a table walker's switch: ``kernel`` on its params struct (``struct``) and data
    arguments of element C types ``ctypes`` (inputs, then the output), then, where ``scratch`` is not None, a
    pointer that many bytes into the group's scratch (a window op's kernel scratch at 0, an ADD's tables)."""

    kernel: str
    struct: str
    ctypes: tuple[str, ...]
    scratch: int | None  # the scratch argument's offset in the group's scratch (None: the call has none)
    rows: bool  # a window op: the call runs on a copy of its params with ROW_FIELDS from the row


@dataclass(frozen=True)
class TableRow:
    """One row: a slide ``move`` = (dst, src, bytes) in the arena (bytes 0: none), then, for ``case`` >= 0,
    a call on ``params`` (an index into ``BandGroup.params``) with data arguments at arena offsets ``at``
    advancing by ``step`` bytes per band of the segment's loop and, for a window op, ROW_FIELDS ``rows``."""

    move: tuple[int, int, int]
    case: int
    params: int
    at: tuple[int, ...]
    step: tuple[int, ...]
    rows: tuple[int, int, int]


@dataclass(frozen=True)
class BandTable:
    """A banded group as data walked by one loop (the template's alternative to its unrolled calls):
    ``segments`` = (loop count, rows) in order over ``rows``; ``scratch``: the group's scratch offset in the
    arena; ``ctypes``: the smallest C integer types of the slides, offsets, steps, row fields, cases and
    segments; ``table_bytes`` / ``unrolled_bytes``: the flash each form takes (code by the byte costs above,
    table rows, params structs: the table needs one per window op instead of one per variant), ``smaller``:
    whether the table is."""

    scratch: int
    segments: tuple[tuple[int, int], ...]
    rows: tuple[TableRow, ...]
    cases: tuple[TableCase, ...]
    structs: tuple[int, ...]  # the params variants the rows name (a window op's first, each ADD variant)
    copy: str  # memcpy where no slide overlaps (newlib-nano's memmove copies bytes), else memmove
    ctypes: dict
    table_bytes: int
    unrolled_bytes: int

    @property
    def smaller(self) -> bool:
        return self.table_bytes < self.unrolled_bytes


_INT_TYPES = (("uint8_t", 0, 255, 1), ("int8_t", -128, 127, 1), ("uint16_t", 0, 65535, 2),
              ("int16_t", -32768, 32767, 2), ("int32_t", -(1 << 31), (1 << 31) - 1, 4))


def _int_type(values) -> tuple[str, int]:
    lo, hi = min(values, default=0), max(values, default=0)
    return next((t, n) for t, a, b, n in _INT_TYPES if a <= lo and hi <= b)


def _struct_bytes(low: Lowered) -> int:
    return 4 * len(low.fields)  # every params field is an int32_t or a pointer (32-bit targets)


def band_table(g: Graph, grp: BandGroup) -> BandTable:
    """The table form of planned group ``grp`` of ``g`` (see BandTable)."""
    plan = g.plan
    scratch = plan.scratch[grp.ops[0]]

    def at(p: BandPtr) -> int:
        return (scratch if p.tensor is None else plan.offsets[g.storage(p.tensor)]) + p.offset

    first_variant: dict[int, int] = {}
    for j, (oid, _) in enumerate(grp.params):
        first_variant.setdefault(oid, j)
    structs: dict[int, None] = {}
    cases: list[TableCase] = []
    rows: list[TableRow] = []
    segments = []
    slots = max(len(low.args) for _, low in grp.params)
    for seg in grp.segments:
        n0 = len(rows)
        move = (0, 0, 0)
        for st in seg.steps:
            if isinstance(st, BandMove):
                if move[2]:  # two slides in a row: the first gets a row of its own
                    rows.append(TableRow(move, -1, 0, (0,) * slots, (0,) * slots, (0, 0, 0)))
                move = (at(st.dst), at(st.src), st.bytes)
                continue
            oid, low = grp.params[st.params]
            window = low.kernel in SLICE_KERNELS
            n_data = len(low.args)
            case = TableCase(low.kernel, low.struct, tuple(g.tensor(t).ctype for t in low.args),
                             st.args[n_data].offset if len(st.args) > n_data else None, window)
            if case not in cases:
                cases.append(case)
            params = first_variant[oid] if window else st.params
            structs[params] = None
            f = dict(low.fields)
            data = st.args[:n_data]
            rows.append(TableRow(move, cases.index(case), params,
                                 tuple(at(p) for p in data) + (0,) * (slots - n_data),
                                 tuple(p.step for p in data) + (0,) * (slots - n_data),
                                 tuple(int(f[k]) for k in ROW_FIELDS) if window else (0, 0, 0)))
            move = (0, 0, 0)
        if move[2]:
            rows.append(TableRow(move, -1, 0, (0,) * slots, (0,) * slots, (0, 0, 0)))
        segments.append((seg.count, len(rows) - n0))
    ctypes = {
        "move": _int_type([v for r in rows for v in r.move]),
        "at": _int_type([v for r in rows for v in r.at]),
        "step": _int_type([v for r in rows for v in r.step]),
        "rows": _int_type([v for r in rows for v in r.rows]),
        "case": _int_type([r.case for r in rows]),
        "segment": _int_type([v for s in segments for v in s]),
    }
    row_bytes = (4 + 3 * ctypes["move"][1] + slots * (ctypes["at"][1] + ctypes["step"][1]) + 3 * ctypes["rows"][1]
                 + ctypes["case"][1])
    row_bytes = -(-row_bytes // 4) * 4  # the params pointer aligns the row
    table = (WALKER + WALKER_CASE * len(cases) + row_bytes * len(rows) + 2 * ctypes["segment"][1] * len(segments)
             + sum(_struct_bytes(grp.params[j][1]) for j in structs))
    steps = [st for s in grp.segments for st in s.steps]
    unrolled = (sum(UNROLLED_MOVE if isinstance(st, BandMove) else UNROLLED_CALL for st in steps)
                + sum(_struct_bytes(low) for _, low in grp.params))
    overlap = any(r.move[2] and r.move[1] < r.move[0] + r.move[2] and r.move[0] < r.move[1] + r.move[2]
                  for r in rows)
    return BandTable(scratch, tuple(segments), tuple(rows), tuple(cases), tuple(structs),
                     "memmove" if overlap else "memcpy", {k: v[0] for k, v in ctypes.items()}, table, unrolled)
