"""Op order: a topological schedule, then a memory-aware one that lowers the arena's peak."""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Op


def renumber(g: Graph) -> Graph:
    """Give ops consecutive ids in schedule order (ids are schedule positions from here on)."""
    ops = tuple(dataclasses.replace(op, id=i) for i, op in enumerate(g.ops))
    return dataclasses.replace(g, ops=ops)


def schedule(g: Graph) -> Graph:
    """Topological order, stable with respect to the file's order (which TFLite already makes valid)."""
    ready = set(g.inputs) | {t.id for t in g.tensors if t.is_const} | {-1}
    pending = list(g.ops)
    order: list[Op] = []
    while pending:
        for i, op in enumerate(pending):
            if all(t in ready for t in op.inputs):
                order.append(op)
                ready.update(op.outputs)
                del pending[i]
                break
        else:
            raise ValueError("graph has a cycle or reads a tensor nobody writes")
    return renumber(dataclasses.replace(g, ops=tuple(order)))


# --- memory-aware schedule -------------------------------------------------------------------------

SCHEDULE_STATE_LIMIT = 10_000  # explored sets of scheduled ops; beyond it the order is left as is


def _schedule_model(g: Graph):
    """Per-op (reads, writes, scratch, inplace-candidates, overlap candidate) over arena storages, for
    peak evaluation. The overlap candidate of an op with ``Lowered.overlap_margin`` m is (its first
    input, m): when that input dies there, the pair costs max(in + align(m), out) bytes, not in + out."""
    from edgeq.passes.memory.planner import _align

    def arena(t: int) -> int | None:
        if t < 0:
            return None
        s = g.storage(t)
        return None if g.tensor(s).is_const else s

    size: dict[int, int] = {}
    reads, writes, scratch, inplace, overlap = [], [], [], [], []
    for op in g.ops:
        r = {s for s in map(arena, op.inputs) if s is not None}
        # an aliasing op (RESHAPE...) writes no new storage: its output is its input's bytes
        w = {s for s in map(arena, op.outputs) if s is not None} - r
        for s in r | w:
            size[s] = _align(g.tensor(s).nbytes)
        low = op.lowered
        reads.append(r)
        writes.append(w)
        scratch.append(_align(low.scratch_bytes) if low is not None and low.scratch_bytes else 0)
        cand = set()
        if low is not None and low.inplace and len(w) == 1:
            out = g.tensor(next(iter(w)))
            cand = {s for s in r if g.tensor(s).nbytes == out.nbytes and g.tensor(s).numel == out.numel}
        inplace.append(cand)
        src = arena(op.inputs[0]) if op.inputs else None
        ok = (low is not None and low.overlap_margin is not None and len(w) == 1 and src is not None
              and sum(1 for t in op.inputs if t >= 0 and arena(t) == src) == 1)
        overlap.append((src, _align(max(low.overlap_margin, 0))) if ok else None)
    keep = {s for s in (arena(t) for t in tuple(g.inputs) + tuple(g.outputs)) if s is not None}
    for s in keep:
        size.setdefault(s, _align(g.tensor(s).nbytes))
    cand_ok = [c - keep for c in inplace]
    overlap = [None if ov is None or ov[0] in keep else ov for ov in overlap]
    readers: dict[int, int] = {}
    for i, r in enumerate(reads):
        for s in r:
            readers[s] = readers.get(s, 0) | (1 << i)
    ins = {s for s in (arena(t) for t in g.inputs) if s is not None}
    outs = {s for s in (arena(t) for t in g.outputs) if s is not None}
    return size, reads, writes, scratch, cand_ok, readers, ins, outs, overlap


def _sharing(i: int, done: int, size, writes, cand, readers, overlap) -> int:
    """Bytes op i's output shares with a dying input: all of them in place, part of them overlapping."""
    if any(readers[s] & ~(done | (1 << i)) == 0 for s in cand[i]):
        return size[next(iter(writes[i]))]
    ov = overlap[i]
    if ov is not None and readers[ov[0]] & ~(done | (1 << i)) == 0:
        a, b = size[ov[0]], size[next(iter(writes[i]))]
        return a + b - min(a + b, max(a + ov[1], b))
    return 0


def schedule_peak(g: Graph, order: list[int] | None = None) -> int:
    """Peak arena bytes (aligned, with in-place sharing, no fragmentation) of running ``g.ops`` in
    ``order`` (positions into ``g.ops``; default: as they are)."""
    size, _, writes, scratch, cand, readers, ins, outs, overlap = _schedule_model(g)
    order = list(range(len(g.ops))) if order is None else order
    done = 0
    live = set(ins)
    peak = sum(size[s] for s in live)
    live = {s for s in live if s in outs or readers.get(s, 0)}
    for i in order:
        step = sum(size[s] for s in live | writes[i]) + scratch[i]
        step -= _sharing(i, done, size, writes, cand, readers, overlap)
        peak = max(peak, step)
        done |= 1 << i
        live |= writes[i]
        live = {s for s in live if s in outs or readers.get(s, 0) & ~done}
    return max(peak, sum(size[s] for s in live))


def schedule_memory(g: Graph) -> Graph:
    """Reorder ops (any topological order computes the same bytes) to lower the arena's peak.

    Exact: a memoised search over the sets of already-run ops (what is live depends only on that set),
    minimising the largest per-step live total, with in-place sharing as the planner does it. Bounded
    by SCHEDULE_STATE_LIMIT; the original order is kept unless the search finds a strictly lower peak.
    Run after lowering (it needs scratch sizes and in-place flags); ids are renumbered.
    """
    n = len(g.ops)
    if n < 3:
        return g
    size, reads, writes, scratch, cand, readers, ins, outs, overlap = _schedule_model(g)
    producer: dict[int, int] = {}
    for i, w in enumerate(writes):
        for s in w:
            producer[s] = i
    deps = [0] * n
    for i, r in enumerate(reads):
        for s in r:
            if s in producer and producer[s] != i:
                deps[i] |= 1 << producer[s]
    # alias ops read storage their producer wrote; an op reading an alias also needs the alias op
    tid_producer = {t: i for i, op in enumerate(g.ops) for t in op.outputs}
    for i, op in enumerate(g.ops):
        for t in op.inputs:
            if t in tid_producer and tid_producer[t] != i:
                deps[i] |= 1 << tid_producer[t]
    full = (1 << n) - 1

    memo: dict[int, tuple[int, int]] = {}

    class TooBig(Exception):
        pass

    def still_needed(s: int, done: int) -> bool:
        return s in outs or bool(readers.get(s, 0) & ~done)

    def best(done: int, live: frozenset, base: int) -> int:
        """Lowest peak over the remaining steps; ``live``/``base``: storages (bytes) live after ``done``."""
        if done == full:
            return base
        hit = memo.get(done)
        if hit is not None:
            return hit[0]
        if len(memo) >= SCHEDULE_STATE_LIMIT:
            raise TooBig
        res, pick = None, -1
        for i in range(n):
            if done >> i & 1 or deps[i] & ~done:
                continue
            new = writes[i] - live
            step = base + sum(size[s] for s in new) + scratch[i]
            step -= _sharing(i, done, size, writes, cand, readers, overlap)
            if res is not None and step >= res:
                continue
            d2 = done | (1 << i)
            dead = {s for s in reads[i] | new if not still_needed(s, d2)}
            live2 = (live | new) - dead
            cost = max(step, best(d2, frozenset(live2), base + sum(size[s] for s in new) - sum(size[s] for s in dead)))
            if res is None or cost < res:
                res, pick = cost, i
        memo[done] = (res, pick)
        return res

    import sys
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 4 * n + 100))
    try:
        live0 = frozenset(s for s in ins if still_needed(s, 0))
        optimum = best(0, live0, sum(size[s] for s in live0))
    except TooBig:
        return g
    finally:
        sys.setrecursionlimit(old)
    done, topological = 0, True
    for i in range(n):
        topological &= deps[i] & ~done == 0
        done |= 1 << i
    if topological and optimum >= schedule_peak(g):
        return g
    order, done = [], 0
    while done != full:
        i = memo[done][1]
        order.append(i)
        done |= 1 << i
    return renumber(dataclasses.replace(g, ops=tuple(g.ops[i] for i in order)))
