"""Op order: a topological schedule, then a memory-aware one that lowers the arena's peak."""

from __future__ import annotations

import dataclasses

from edgeq.ir import Graph, Op
from edgeq.passes.memory.liveness import align, live_ranges, lower_bound, shared_bytes, sharing, storage_model


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


def schedule_peak(g: Graph) -> int:
    """Peak arena bytes (aligned, with the sharing the planner does, no fragmentation) of running ``g.ops``
    in their order: the liveness model's lower bound for this schedule."""
    model = storage_model(g)
    bufs = live_ranges(g, model)
    return lower_bound(bufs, sharing(g, bufs, model))


def schedule_memory(g: Graph) -> Graph:
    """Reorder ops (any topological order computes the same bytes) to lower the arena's peak.

    Exact: a memoised search over the sets of already-run ops (what is live depends only on that set),
    minimising the largest per-step live total of the liveness model (``passes.memory.liveness``: each
    op's storage access, an output sharing an input that dies there as the planner places it). Bounded
    by SCHEDULE_STATE_LIMIT; the original order is kept unless the search finds a strictly lower peak.
    Run after lowering (it needs scratch sizes and in-place flags); ids are renumbered.
    """
    n = len(g.ops)
    if n < 3:
        return g
    model = storage_model(g)
    acc = model.access
    size = {s: align(b) for s, b in model.nbytes.items()}
    reads = [frozenset(a.reads) for a in acc]
    writes = [frozenset(a.writes) for a in acc]
    scratch = [align(a.scratch) for a in acc]
    outs = set(model.outputs)
    readers: dict[int, int] = {}
    for i, r in enumerate(reads):
        for s in r:
            readers[s] = readers.get(s, 0) | (1 << i)

    def shared(i: int, done: int) -> int:
        """Bytes op i's output shares with an input that dies at op i (run after ``done``)."""
        after = done | (1 << i)
        sh = acc[i].share(lambda s: readers[s] & ~after == 0)
        return 0 if sh is None else shared_bytes(size[sh.source], size[acc[i].output], sh.margin)

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
            step = base + sum(size[s] for s in new) + scratch[i] - shared(i, done)
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
        live0 = frozenset(s for s in model.inputs if still_needed(s, 0))
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
