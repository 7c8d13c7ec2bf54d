"""Static memory planning: one arena, every activation tensor at a fixed offset.

The planner is a small interface in the TFLM mould: buffers with live ranges in, offsets and a total
out, plus a lower bound (the most bytes live at any one step) to judge the plan against, and an
overlap check used by tests.

In-place ops: when an op's lowering says ``inplace`` (elementwise kernel, see ``Lowered.inplace``) and
one of its inputs has the output's size and is last read by this op, the output is placed exactly on
that input ("in-place pair"). Planning then works on *groups*: a buffer and the in-place outputs
chained onto it form one block whose live range is the union; the lower bound is taken over groups,
so it accounts for the sharing.

Overlapping in-place: when an op's lowering gives ``overlap_margin`` m (window kernels writing in raster
order, see ``Lowered.overlap_margin``) and its first input is last read by this op, the output may start
m bytes (or more) below that input and overlap it ("overlap pair" out -> (in, m)). The planner treats
this as a relaxed constraint between the two groups (they are live together only at that op), the
overlap check accepts exactly that placement, and the lower bound counts the pair at that step as its
smallest possible union, max(align(in) + align(m), align(out)) (or the two sizes' sum when less).
"""

from __future__ import annotations

import dataclasses
import random

from edgeq.ir import Buffer, Graph, MemoryPlan

ALIGN = 16


def _align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


def buffers(g: Graph) -> list[Buffer]:
    """Live ranges of every non-constant storage tensor and of each op's scratch, in schedule order.

    Scratch buffers use negative ids ``-(op.id + 1)`` so they never collide with tensor ids.
    """
    n = len(g.ops)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(tid: int, step: int) -> None:
        s = g.storage(tid)
        if g.tensor(s).is_const:
            return
        first[s] = min(first.get(s, step), step)
        last[s] = max(last.get(s, step), step)

    for t in g.inputs:
        touch(t, -1)
    for op in g.ops:
        for t in op.outputs:
            touch(t, op.id)
        for t in op.inputs:
            if t >= 0:
                touch(t, op.id)
    for t in g.outputs:
        touch(t, n)
    out = [Buffer(s, g.tensor(s).nbytes, first[s], last[s]) for s in first]
    for op in g.ops:
        if op.lowered is not None and op.lowered.scratch_bytes:
            out.append(Buffer(-(op.id + 1), op.lowered.scratch_bytes, op.id, op.id))
    return out


def _overlap(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def inplace_pairs(g: Graph, bufs: list[Buffer]) -> dict[int, int]:
    """output storage -> input storage, for ops that may (and, here, do) write over a dying input.

    The input must be an arena buffer (not a model input or output, not a constant) of the same
    bytes, element size and element count as the output, last read by this op. Model inputs are left
    alone so the caller's input stays intact.
    """
    last = {b.tensor: b.last for b in bufs}
    keep = {g.storage(t) for t in g.inputs} | {g.storage(t) for t in g.outputs}
    pairs: dict[int, int] = {}
    for op in g.ops:
        low = op.lowered
        if low is None or not low.inplace or len(op.outputs) != 1:
            continue
        out = g.tensor(g.storage(op.outputs[0]))
        if out.id not in last:
            continue
        for t in op.inputs:
            if t < 0:
                continue
            s = g.storage(t)
            src = g.tensor(s)
            if (s in last and s not in keep and s != out.id and last[s] == op.id
                    and src.nbytes == out.nbytes and src.numel == out.numel
                    and s not in pairs.values()):
                pairs[out.id] = s
                break
    return pairs


def overlap_pairs(g: Graph, bufs: list[Buffer], inplace: dict[int, int] | None = None) -> dict[int, tuple[int, int]]:
    """output storage -> (input storage, margin) for ops whose lowering allows an overlapping output
    (``Lowered.overlap_margin``) and whose first input dies there.

    The input must be an arena buffer (not a model input or output, not a constant, not the source of
    an exact in-place pair), last read by this op, and not the output's own storage.
    """
    last = {b.tensor: b.last for b in bufs}
    keep = {g.storage(t) for t in g.inputs} | {g.storage(t) for t in g.outputs}
    used = set((inplace or {}).values())
    out: dict[int, tuple[int, int]] = {}
    for op in g.ops:
        low = op.lowered
        if low is None or low.overlap_margin is None or len(op.outputs) != 1 or not op.inputs:
            continue
        if op.inputs[0] < 0:
            continue
        o, s = g.storage(op.outputs[0]), g.storage(op.inputs[0])
        if (o in last and s in last and s not in keep and s != o and last[s] == op.id and s not in used
                and o not in (inplace or {}) and sum(1 for t in op.inputs if t >= 0 and g.storage(t) == s) == 1):
            out[o] = (s, max(int(low.overlap_margin), 0))
            used.add(s)
    return out


def group_buffers(bufs: list[Buffer], pairs: dict[int, int]) -> tuple[list[Buffer], dict[int, int]]:
    """Merge each in-place output into its input's buffer: (group buffers, member -> group root)."""
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while t in pairs:
            t = pairs[t]
        return t

    by_id = {b.tensor: b for b in bufs}
    span: dict[int, list[int]] = {}
    for b in bufs:
        r = find(b.tensor)
        root[b.tensor] = r
        lo_hi = span.setdefault(r, [b.first, b.last, 0])
        lo_hi[0] = min(lo_hi[0], b.first)
        lo_hi[1] = max(lo_hi[1], b.last)
        lo_hi[2] = max(lo_hi[2], b.size)
    groups = [Buffer(r, sz, lo, hi) for r, (lo, hi, sz) in span.items()]
    assert all(r in by_id for r in span)
    return groups, root


def lower_bound(bufs: list[Buffer], pairs: dict[int, int] | None = None,
                overlaps: dict[int, tuple[int, int]] | None = None) -> int:
    """Most bytes (aligned) live at any step; with ``pairs``, in-place outputs share their input's; with
    ``overlaps``, an overlap pair counts at its op as its smallest union max(align(in) + align(m),
    align(out)) (the output starts >= m below the input, both at aligned offsets), or align(in) +
    align(out) when that is less. No plan that uses at most these sharings can be smaller."""
    root = {b.tensor: b.tensor for b in bufs}
    born = {b.tensor: b.first for b in bufs}
    if pairs:
        bufs, root = group_buffers(bufs, pairs)
    size = {b.tensor: _align(b.size) for b in bufs}
    saving: dict[int, int] = {}  # step -> bytes the overlap pair born there shares
    for o, (n, m) in (overlaps or {}).items():
        ro, rn = root[o], root[n]
        step = born[o]
        both = size[ro] + size[rn]
        saving[step] = saving.get(step, 0) + both - min(both, max(size[rn] + _align(m), size[ro]))
    steps = {b.first for b in bufs} | {b.last for b in bufs}
    return max((sum(size[b.tensor] for b in bufs if b.first <= s <= b.last) - saving.get(s, 0) for s in steps),
               default=0)


def greedy_plan(bufs: list[Buffer], align: int = ALIGN) -> dict[int, int]:
    """Largest first; each buffer goes into the lowest gap not used by a live-overlapping buffer."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in sorted(bufs, key=lambda b: (-b.size, b.first, b.tensor)):
        busy = sorted((off, off + _align(o.size, align)) for o, off in placed if _overlap(o, b))
        cand = 0
        for lo, hi in busy:
            if cand + b.size <= lo:
                break
            cand = max(cand, _align(hi, align))
        offsets[b.tensor] = cand
        placed.append((b, cand))
    return offsets


def check_plan(bufs: list[Buffer], offsets: dict[int, int], inplace: dict[int, int] | None = None,
               overlaps: dict[int, tuple[int, int]] | None = None) -> list[tuple[int, int]]:
    """Pairs of buffers that are live at the same time and share bytes (must be empty).

    ``inplace`` (output -> input) pairs are allowed to share bytes only in exactly one way: same
    offset and size, the input's last step is the output's first (the in-place op).
    ``overlaps`` (output -> (input, margin)) pairs only when the input's last step is the output's
    first and the output starts at least ``margin`` bytes below the input.
    """
    inplace = inplace or {}
    overlaps = overlaps or {}
    bad = []
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if _overlap(a, b):
                a0, b0 = offsets[a.tensor], offsets[b.tensor]
                if a0 < b0 + b.size and b0 < a0 + a.size and a.size and b.size:
                    o, n = (a, b) if inplace.get(a.tensor) == b.tensor else (b, a)
                    if (inplace.get(o.tensor) == n.tensor and offsets[o.tensor] == offsets[n.tensor]
                            and o.size == n.size and n.last == o.first):
                        continue
                    o, n = (a, b) if a.tensor in overlaps and overlaps[a.tensor][0] == b.tensor else (b, a)
                    pair = overlaps.get(o.tensor)
                    if (pair is not None and pair[0] == n.tensor and n.last == o.first
                            and offsets[o.tensor] <= offsets[n.tensor] - pair[1]):
                        continue
                    bad.append((a.tensor, b.tensor))
    return bad


def plan_with_inplace(bufs: list[Buffer], pairs: dict[int, int]) -> dict[int, int]:
    """Greedy plan of the in-place groups; every member gets its group's offset."""
    groups, root = group_buffers(bufs, pairs)
    goff = greedy_plan(groups)
    return {b.tensor: goff[root[b.tensor]] for b in bufs}


def _place(groups: list[Buffer], order: list[Buffer], rel: dict[tuple[int, int], tuple[str, int]],
           align: int) -> dict[int, int]:
    """Greedy placement of ``groups`` in ``order``: each at the lowest aligned offset allowed by the
    live-overlapping groups already placed. ``rel[(b, o)]`` relaxes the constraint between b and o:
    ("below", m): b may start m or more bytes below o; ("above", m): b may start m or more above o."""
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[int, int] = {}
    for b in order:
        bans: list[tuple[int, int]] = []  # open intervals of forbidden offsets
        for o, off in placed:
            if not _overlap(o, b):
                continue
            hi = off + _align(o.size, align)
            kind = rel.get((b.tensor, o.tensor))
            if kind is None:
                bans.append((off - b.size, hi))
            elif kind[0] == "below":
                bans.append((off - min(kind[1], b.size), hi))
            else:
                bans.append((off - b.size, off + min(kind[1], _align(o.size, align))))
        cands = sorted({0} | {max(_align(h, align), 0) for _, h in bans})
        for c in cands:
            if all(not (lo < c < hi) for lo, hi in bans):
                offsets[b.tensor] = c
                placed.append((b, c))
                break
    return offsets


SEARCH_BUDGET = 2_000_000  # pair checks spent on randomised greedy orders (a few tenths of a second)
SEARCH_TRIES = 200


def plan_with_overlaps(bufs: list[Buffer], pairs: dict[int, int],
                       overlaps: dict[int, tuple[int, int]]) -> dict[int, int]:
    """Plan the in-place groups with overlap pairs as relaxed constraints between groups.

    Greedy placement is order-sensitive once outputs may sit below their inputs (an output placed after
    its input finds the bytes below taken), so several orders are tried: the classic ones (largest
    first by birth, by death, ...), then randomised largest-first orders from a fixed seed
    (deterministic), until the plan reaches ``lower_bound`` or SEARCH_TRIES / SEARCH_BUDGET run out. The smallest arena
    wins (ties: the first found)."""
    groups, root = group_buffers(bufs, pairs)
    rel: dict[tuple[int, int], tuple[str, int]] = {}
    for o, (n, m) in overlaps.items():
        ro, rn = root[o], root[n]
        rel[(ro, rn)] = ("below", m)
        rel[(rn, ro)] = ("above", m)
    orders = [
        sorted(groups, key=lambda b: (-b.size, b.first, b.tensor)),
        sorted(groups, key=lambda b: (-b.size, -b.first, b.tensor)),
        sorted(groups, key=lambda b: (-b.size, -b.last, b.tensor)),
        sorted(groups, key=lambda b: (b.first, -b.size, b.tensor)),
        sorted(groups, key=lambda b: (-b.last, -b.size, b.tensor)),
    ]
    bound = lower_bound(bufs, pairs, overlaps)
    rng = random.Random(0)
    tries = len(orders) + min(SEARCH_TRIES, SEARCH_BUDGET // max(len(groups) ** 2, 1))
    best, best_size = None, None
    for i in range(tries):
        if i >= len(orders):
            if not overlaps or best_size <= bound:
                break
            order = sorted(groups, key=lambda b: (-b.size * rng.uniform(0.6, 1.4), rng.random()))
        else:
            order = orders[i]
        goff = _place(groups, order, rel, ALIGN)
        size = max((goff[b.tensor] + _align(b.size) for b in groups), default=0)
        if best_size is None or size < best_size:
            best, best_size = goff, size
    return {b.tensor: best[root[b.tensor]] for b in bufs}


def plan_memory(g: Graph) -> Graph:
    bufs = buffers(g)
    pairs = inplace_pairs(g, bufs)
    overlaps = overlap_pairs(g, bufs, pairs)
    offsets = plan_with_overlaps(bufs, pairs, overlaps)
    bad = check_plan(bufs, offsets, pairs, overlaps)
    if bad:  # a planner bug: never emit an arena where live tensors overlap
        raise AssertionError(f"memory plan overlaps live buffers {bad}")
    size = max((offsets[b.tensor] + _align(b.size) for b in bufs), default=0)
    full = dict(offsets)
    for t in g.tensors:
        if t.alias_of is not None and g.storage(t.id) in offsets:
            full[t.id] = offsets[g.storage(t.id)]
    plan = MemoryPlan(full, size, lower_bound(bufs, pairs, overlaps), tuple(bufs), ALIGN)
    return dataclasses.replace(g, plan=plan)
