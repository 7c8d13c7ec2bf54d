"""Static memory planning: one arena, every activation tensor and kernel scratch at a fixed offset.

The planner is a small interface in the TFLM mould: buffers with live ranges in, offsets and a total
out, plus a lower bound (the most bytes live at any one step) to judge the plan against, and an
overlap check used by tests. Buffers, the pairs that may share bytes and the bytes live per step come
from the one liveness model (``passes.memory.liveness``); this module places them.

In-place pairs (``Sharing.inplace``, an elementwise op's output exactly on a dying input of its size, see
``Lowered.inplace``): planning works on *groups*: a buffer and the in-place outputs chained onto it form
one block whose live range is the union and which gets one offset.

Overlap pairs (``Sharing.overlap``, out -> (in, m): a window kernel's output may start m bytes or more
below its dying first input, see ``Lowered.overlap_margin``): a relaxed constraint between the two
groups (they are live together only at that op); the overlap check accepts exactly that placement.

A plan is keyed by :class:`~edgeq.ir.Buffer`; ``MemoryPlan`` splits it into tensor offsets (by tensor
id, aliases included) and scratch offsets (by op id).
"""

from __future__ import annotations

import dataclasses
import random
from typing import Mapping

from edgeq.ir import Buffer, Graph, MemoryPlan
from edgeq.passes.memory.liveness import (ALIGN, Sharing, align, live_bytes, live_ranges, lower_bound, sharing,
                                          storage_model)


def _overlap(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def _tie(b: Buffer) -> tuple[str, int]:
    """Last sort key of placement orders: deterministic (scratch before tensors, then by id)."""
    return b.kind, b.id


def group_buffers(bufs: list[Buffer], inplace: Mapping[Buffer, Buffer]) -> tuple[list[Buffer], dict[Buffer, Buffer]]:
    """Merge each in-place output into its input's buffer: (group buffers, member -> its group). A group
    is named by its root (the buffer the chain starts from), spans its members' live ranges and has the
    largest member's size."""

    def find(b: Buffer) -> Buffer:
        while b in inplace:
            b = inplace[b]
        return b

    span: dict[Buffer, list[int]] = {}
    root: dict[Buffer, Buffer] = {}
    for b in bufs:
        r = root[b] = find(b)
        lo_hi = span.setdefault(r, [b.first, b.last, 0])
        lo_hi[0] = min(lo_hi[0], b.first)
        lo_hi[1] = max(lo_hi[1], b.last)
        lo_hi[2] = max(lo_hi[2], b.size)
    group = {r: Buffer(r.kind, r.id, sz, lo, hi) for r, (lo, hi, sz) in span.items()}
    return list(group.values()), {b: group[r] for b, r in root.items()}


def greedy_plan(bufs: list[Buffer], alignment: int = ALIGN) -> dict[Buffer, int]:
    """Largest first; each buffer goes into the lowest gap not used by a live-overlapping buffer."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[Buffer, int] = {}
    for b in sorted(bufs, key=lambda b: (-b.size, b.first, _tie(b))):
        busy = sorted((off, off + align(o.size, alignment)) for o, off in placed if _overlap(o, b))
        cand = 0
        for lo, hi in busy:
            if cand + b.size <= lo:
                break
            cand = max(cand, align(hi, alignment))
        offsets[b] = cand
        placed.append((b, cand))
    return offsets


def check_plan(bufs: list[Buffer], offsets: Mapping[Buffer, int],
               share: Sharing | None = None) -> list[tuple[Buffer, Buffer]]:
    """Pairs of buffers that are live at the same time and share bytes (must be empty).

    ``share.inplace`` (output -> input) pairs are allowed to share bytes only in exactly one way: same
    offset and size, the input's last step is the output's first (the in-place op).
    ``share.overlap`` (output -> (input, margin)) pairs only when the input's last step is the output's
    first and the output starts at least ``margin`` bytes below the input.
    """
    inplace = share.inplace if share else {}
    overlaps = share.overlap if share else {}
    bad = []
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if _overlap(a, b):
                a0, b0 = offsets[a], offsets[b]
                if a0 < b0 + b.size and b0 < a0 + a.size and a.size and b.size:
                    o, n = (a, b) if inplace.get(a) == b else (b, a)
                    if inplace.get(o) == n and offsets[o] == offsets[n] and o.size == n.size and n.last == o.first:
                        continue
                    o, n = (a, b) if a in overlaps and overlaps[a][0] == b else (b, a)
                    pair = overlaps.get(o)
                    if pair is not None and pair[0] == n and n.last == o.first and offsets[o] <= offsets[n] - pair[1]:
                        continue
                    bad.append((a, b))
    return bad


def plan_violations(g: Graph) -> list[tuple[Buffer, Buffer]]:
    """:func:`check_plan` of ``g.plan`` against the liveness model of ``g``'s schedule (must be empty)."""
    model = storage_model(g)
    bufs = live_ranges(g, model)
    return check_plan(bufs, {b: g.plan.offset(b) for b in bufs}, sharing(g, bufs, model))


def plan_with_inplace(bufs: list[Buffer], inplace: Mapping[Buffer, Buffer]) -> dict[Buffer, int]:
    """Greedy plan of the in-place groups; every member gets its group's offset."""
    groups, group = group_buffers(bufs, inplace)
    goff = greedy_plan(groups)
    return {b: goff[group[b]] for b in bufs}


def _place(groups: list[Buffer], order: list[int], rel: dict[tuple[int, int], tuple[str, int]],
           alignment: int) -> list[int]:
    """Greedy placement of ``groups`` in ``order`` (indices into ``groups``): each at the lowest aligned
    offset allowed by the live-overlapping groups already placed. ``rel[(b, o)]`` (indices) relaxes the
    constraint between b and o: ("below", m): b may start m or more bytes below o; ("above", m): b may
    start m or more above o. Returns the offsets, by index."""
    placed: list[tuple[int, int]] = []
    offsets = [0] * len(groups)
    for i in order:
        b = groups[i]
        bans: list[tuple[int, int]] = []  # open intervals of forbidden offsets
        for j, off in placed:
            o = groups[j]
            if not _overlap(o, b):
                continue
            hi = off + align(o.size, alignment)
            kind = rel.get((i, j))
            if kind is None:
                bans.append((off - b.size, hi))
            elif kind[0] == "below":
                bans.append((off - min(kind[1], b.size), hi))
            else:
                bans.append((off - b.size, off + min(kind[1], align(o.size, alignment))))
        cands = sorted({0} | {max(align(h, alignment), 0) for _, h in bans})
        for c in cands:
            if all(not (lo < c < hi) for lo, hi in bans):
                offsets[i] = c
                placed.append((i, c))
                break
    return offsets


SEARCH_BUDGET = 2_000_000  # pair checks spent on randomised greedy orders (a few tenths of a second)
SEARCH_TRIES = 200


def plan_with_overlaps(bufs: list[Buffer], share: Sharing) -> dict[Buffer, int]:
    """Plan the in-place groups with overlap pairs as relaxed constraints between groups.

    Greedy placement is order-sensitive once outputs may sit below their inputs (an output placed after
    its input finds the bytes below taken), so several orders are tried: the classic ones (largest
    first by birth, by death, ...), then randomised largest-first orders from a fixed seed
    (deterministic), until the plan reaches ``lower_bound`` or SEARCH_TRIES / SEARCH_BUDGET run out. The
    smallest arena wins (ties: the first found)."""
    groups, group = group_buffers(bufs, share.inplace)
    index = {gb: i for i, gb in enumerate(groups)}
    rel: dict[tuple[int, int], tuple[str, int]] = {}
    for o, (n, m) in share.overlap.items():
        go, gn = index[group[o]], index[group[n]]
        rel[(go, gn)] = ("below", m)
        rel[(gn, go)] = ("above", m)
    ids = range(len(groups))
    orders = [
        sorted(ids, key=lambda i: (-groups[i].size, groups[i].first, _tie(groups[i]))),
        sorted(ids, key=lambda i: (-groups[i].size, -groups[i].first, _tie(groups[i]))),
        sorted(ids, key=lambda i: (-groups[i].size, -groups[i].last, _tie(groups[i]))),
        sorted(ids, key=lambda i: (groups[i].first, -groups[i].size, _tie(groups[i]))),
        sorted(ids, key=lambda i: (-groups[i].last, -groups[i].size, _tie(groups[i]))),
    ]
    bound = lower_bound(bufs, share)
    rng = random.Random(0)
    tries = len(orders) + min(SEARCH_TRIES, SEARCH_BUDGET // max(len(groups) ** 2, 1))
    best, best_size = None, None
    for t in range(tries):
        if t >= len(orders):
            if not share.overlap or best_size <= bound:
                break
            order = sorted(ids, key=lambda i: (-groups[i].size * rng.uniform(0.6, 1.4), rng.random()))
        else:
            order = orders[t]
        goff = _place(groups, order, rel, ALIGN)
        size = max((goff[i] + align(gb.size) for i, gb in enumerate(groups)), default=0)
        if best_size is None or size < best_size:
            best, best_size = goff, size
    return {b: best[index[group[b]]] for b in bufs}


def plan_memory(g: Graph) -> Graph:
    model = storage_model(g)
    bufs = live_ranges(g, model)
    share = sharing(g, bufs, model)
    offsets = plan_with_overlaps(bufs, share)
    bad = check_plan(bufs, offsets, share)
    if bad:  # a planner bug: never emit an arena where live tensors overlap
        raise AssertionError(f"memory plan overlaps live buffers {bad}")
    size = max((offsets[b] + align(b.size) for b in bufs), default=0)
    tensors = {b.id: off for b, off in offsets.items() if b.kind == "tensor"}
    for t in g.tensors:
        if t.alias_of is not None and g.storage(t.id) in tensors:
            tensors[t.id] = tensors[g.storage(t.id)]
    scratch = {b.id: off for b, off in offsets.items() if b.kind == "scratch"}
    live = tuple(live_bytes(bufs, share, range(-1, len(g.ops) + 1)))
    state, state_size = {}, 0
    for s in dict.fromkeys(g.storage(p.input) for p in g.state):  # live for the program: one after another
        state[s] = state_size
        state_size += align(g.tensor(s).nbytes)
    for t in g.tensors:
        if t.alias_of is not None and g.storage(t.id) in state:
            state[t.id] = state[g.storage(t.id)]
    plan = MemoryPlan(tensors, scratch, size, live, tuple(bufs), ALIGN, state, state_size)
    return dataclasses.replace(g, plan=plan)
