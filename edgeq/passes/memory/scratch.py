"""Scratch upgrades after memory planning: a kernel that offers larger scratch for fewer instructions
(``Lowered.scratch_options``, smallest first, the smallest planned) takes the largest option that fits in
the arena bytes free during its op.

An option may also name another kernel (a change ``("kernel", name)``): a kernel whose planned variant has no
scratch (int8 ADD/SUB with their tables in flash) takes a scratch pointer only in the variant that has one (the
tables built at run time in scratch); such an op gets a scratch buffer where it had none. Members of a row-band
group are not upgraded here: the group holds their scratch (passes.memory.bands takes an ADD's run-time tables into
it where the arena does not grow).

The plan is not changed otherwise: the arena size stays, every other buffer keeps its offset, and only the
op's own scratch moves (to the lowest gap that holds the chosen size). A scratch buffer is live at its op
only, so each op is decided alone, from the buffers live at its step. The upgraded graph is checked as the
planner checks its own plans (no live buffers sharing bytes), and ``MemoryPlan.live`` / ``buffers`` are
recomputed from the liveness model so they describe the upgraded graph.
"""

from __future__ import annotations

import dataclasses

from edgeq.ir import Buffer, Graph, Lowered, MemoryPlan, Op
from edgeq.passes.memory.liveness import align, live_bytes, live_ranges, sharing, storage_model
from edgeq.passes.memory.planner import check_plan


def free_gaps(plan: MemoryPlan, step: int, skip: Buffer | None = None) -> list[tuple[int, int]]:
    """(offset, bytes) of the aligned gaps of ``plan``'s arena that no buffer live at ``step`` occupies
    (``skip``, the op's own scratch, counted free), lowest first."""
    busy = sorted((plan.offset(b), plan.offset(b) + align(b.size, plan.alignment)) for b in plan.buffers
                  if b.first <= step <= b.last and b.size and b != skip)
    gaps, cur = [], 0
    for lo, hi in busy:
        if lo - cur > 0:
            gaps.append((cur, lo - cur))
        cur = max(cur, hi)
    if plan.size > cur:
        gaps.append((cur, plan.size - cur))
    return gaps


def _choose(op: Op, gaps: list[tuple[int, int]]) -> tuple[int, tuple, int] | None:
    """The largest of ``op``'s scratch options that fits a gap: (bytes, fields, offset at the lowest gap
    that holds it), or None when only the planned one does."""
    for size, fields in reversed(op.lowered.scratch_options[1:]):
        for off, room in gaps:
            if align(size) <= room:
                return size, fields, off
    return None


def with_option(low: Lowered, size: int, changes: tuple) -> Lowered:
    """``low`` with scratch option (``size``, ``changes``) of its ``scratch_options`` taken: the fields it names
    changed, its kernel where it names one (``("kernel", name)``), ``size`` bytes of scratch."""
    new = dict(changes)
    kernel = new.pop("kernel", low.kernel)
    fields = tuple((name, new.get(name, v)) for name, v in low.fields)
    return dataclasses.replace(low, kernel=kernel, fields=fields, scratch_bytes=size)


def upgrade_scratch(g: Graph) -> Graph:
    """Each op with ``scratch_options`` (but members of a row-band group, whose scratch the group holds) at the
    largest that fits its step's free arena bytes (see the module docstring). A graph without a plan or
    without options is returned unchanged."""
    if g.plan is None or not any(op.lowered is not None and len(op.lowered.scratch_options) > 1 for op in g.ops):
        return g
    plan = g.plan
    scratch_buf = {b.id: b for b in plan.buffers if b.kind == "scratch"}
    ops, offsets = list(g.ops), dict(plan.scratch)
    for i, op in enumerate(g.ops):
        low = op.lowered
        if low is None or len(low.scratch_options) <= 1 or low.band is not None:
            continue
        if low.scratch_options[0][0] != low.scratch_bytes:
            raise AssertionError(f"op {op.id}: the first scratch option ({low.scratch_options[0][0]} B) is not "
                                 f"the planned scratch ({low.scratch_bytes} B)")
        pick = _choose(op, free_gaps(plan, i, scratch_buf.get(op.id)))  # none planned: no buffer yet
        if pick is None:
            continue
        size, changes, off = pick
        ops[i] = dataclasses.replace(op, lowered=with_option(low, size, changes))
        offsets[op.id] = off
    out = dataclasses.replace(g, ops=tuple(ops))
    model = storage_model(out)
    bufs = live_ranges(out, model)
    share = sharing(out, bufs, model)
    bad = check_plan(bufs, {b: (plan.offsets if b.kind == "tensor" else offsets)[b.id] for b in bufs}, share)
    if bad:  # a bug here: never emit an arena where live buffers overlap
        raise AssertionError(f"scratch upgrade overlaps live buffers {bad}")
    if max((offsets[b.id] + align(b.size) for b in bufs if b.kind == "scratch"), default=0) > plan.size:
        raise AssertionError("scratch upgrade grew the arena")
    live = tuple(live_bytes(bufs, share, range(-1, len(out.ops) + 1)))
    return dataclasses.replace(out, plan=dataclasses.replace(plan, scratch=offsets, buffers=tuple(bufs), live=live))
