"""The one liveness model: what arena storage each op touches, when each buffer is live over a schedule,
and how many bytes are live at each step.

The scheduler (``passes.graph.schedule``: the peak of an order, the search for a lower one), the planner
(``passes.memory.planner``: buffers, sharing pairs, lower bound) and the memory-plan plot (through
``MemoryPlan.live``) all count with it.

Storage: the bytes of a non-constant tensor, named by the tensor that owns them (``Graph.storage``
resolves aliases; constants live in flash and state inputs (``Graph.state``) in static state buffers, not
in the arena). Bytes are counted aligned to ``ALIGN``,
as the arena places them. Steps are schedule positions: -1 is the model inputs, ``i`` is ``g.ops[i]``,
``len(g.ops)`` is the caller reading the model outputs.

Sharing: an op's output may take the bytes of an input that dies at that op (read last there, not a
model input or output, so the caller's tensors stay intact):

- exactly in place, when the lowering says ``inplace`` and the input has the output's bytes and element
  count (``Lowered.inplace``): the pair holds one buffer's bytes at that step;
- overlapping, when the lowering gives ``overlap_margin`` m and the input is its first, passed once
  (``Lowered.overlap_margin``): the output starts m or more bytes below the input, so at that step the
  pair holds at least max(align(in) + align(m), align(out)) bytes (or the sum, when less).

An op uses the first input in argument order that may be shared exactly in place, else the overlap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from edgeq.ir import Buffer, Graph

ALIGN = 16


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Share:
    """An op's output placed on one of its dying inputs."""

    source: int  # storage of the input
    margin: int | None  # None: exactly in place; else the output starts >= margin bytes below the input


@dataclass(frozen=True)
class Access:
    """What one op does to arena storage (storages are tensor ids, see the module docstring)."""

    reads: tuple[int, ...]  # storages read, in argument order, each once
    # storages written and not read, in output order (an aliasing op, RESHAPE..., writes none: its output
    # is its input's bytes)
    writes: tuple[int, ...]
    scratch: int  # kernel scratch bytes (0: none)
    # reads the output may be placed exactly on (same bytes and element count, not a model input or
    # output), in argument order; empty unless the lowering is ``inplace`` and the op writes one storage
    inplace: tuple[int, ...]
    # (first input's storage, margin >= 0) when the output may start margin bytes or more below it
    overlap: tuple[int, int] | None
    # steps the scratch stays live, from this op's (a banded group's scratch: its band buffers, over its
    # member steps)
    scratch_steps: int = 1

    @property
    def output(self) -> int | None:
        """The storage a sharing op writes (sharing needs exactly one)."""
        return self.writes[0] if len(self.writes) == 1 else None

    def share(self, dies: Callable[[int], bool]) -> Share | None:
        """How the output shares an input for which ``dies`` (last read by this op) holds, if it can."""
        for s in self.inplace:
            if dies(s):
                return Share(s, None)
        if self.overlap is not None and dies(self.overlap[0]):
            return Share(*self.overlap)
        return None


@dataclass(frozen=True)
class StorageModel:
    """Every op's :class:`Access`, in ``g.ops`` order, and the storages they and the model touch."""

    nbytes: Mapping[int, int]  # storage -> bytes (unaligned)
    access: tuple[Access, ...]
    inputs: tuple[int, ...]  # storages of the model inputs, in order, each once
    outputs: tuple[int, ...]  # storages of the model outputs, in order, each once


def _unique(xs: Iterable[int]) -> tuple[int, ...]:
    return tuple(dict.fromkeys(xs))


def storage_model(g: Graph) -> StorageModel:
    state = g.state_inputs()  # static state buffers (Graph.state), not arena

    def arena(t: int) -> int | None:
        if t < 0:
            return None
        s = g.storage(t)
        return None if g.tensor(s).is_const or s in state else s

    def arenas(tids: Iterable[int]) -> tuple[int, ...]:
        return _unique(s for s in map(arena, tids) if s is not None)

    ins, outs = arenas(g.inputs), arenas(g.outputs)
    keep = set(ins) | set(outs)
    nbytes = {s: g.tensor(s).nbytes for s in ins + outs}
    access = []
    for op in g.ops:
        if op.lowered is not None and op.lowered.band is not None:
            acc = _band_access(g, op, arenas, keep)
            nbytes.update((s, g.tensor(s).nbytes) for s in acc.reads + acc.writes)
            access.append(acc)
            continue
        r = arenas(op.inputs)
        w = tuple(s for s in arenas(op.outputs) if s not in r)
        nbytes.update((s, g.tensor(s).nbytes) for s in r + w)
        low = op.lowered
        shares = low is not None and len(op.outputs) == 1 and len(w) == 1
        inplace: tuple[int, ...] = ()
        overlap = None
        if shares and low.inplace:
            out = g.tensor(w[0])
            inplace = tuple(s for s in r if s not in keep and g.tensor(s).nbytes == out.nbytes
                            and g.tensor(s).numel == out.numel)
        src = arena(op.inputs[0]) if op.inputs else None
        if (shares and low.overlap_margin is not None and src is not None and src not in keep
                and sum(1 for t in op.inputs if arena(t) == src) == 1):
            overlap = (src, max(int(low.overlap_margin), 0))
        scratch = low.scratch_bytes if low is not None else 0
        access.append(Access(r, w, scratch, inplace, overlap))
    return StorageModel(nbytes, tuple(access), ins, outs)


def _band_access(g: Graph, op, arenas: Callable[[Iterable[int]], tuple[int, ...]], keep: set[int]) -> Access:
    """A member of a banded group (``Lowered.band``): every member step reads the group's input (the bands
    read it until the last one); the first holds the group's scratch over all member steps; the last writes
    the group's output, exactly in place on the input when the group allows it. The intermediate tensors
    have no storage."""
    grp = op.lowered.band
    first, last = op.id == grp.ops[0], op.id == grp.ops[-1]
    r = arenas((grp.input,))
    w = tuple(s for s in arenas((grp.output,)) if s not in r) if last else ()
    inplace: tuple[int, ...] = ()
    if last and grp.inplace and w:
        out = g.tensor(w[0])
        inplace = tuple(s for s in r if s not in keep and g.tensor(s).nbytes == out.nbytes
                        and g.tensor(s).numel == out.numel)
    return Access(r, w, grp.scratch_bytes if first else 0, inplace, None,
                  scratch_steps=len(grp.ops) if first else 1)


def live_ranges(g: Graph, model: StorageModel | None = None) -> list[Buffer]:
    """The buffers of ``g``'s schedule: one per storage (first step that touches it to the last; model
    inputs from -1, model outputs to ``len(g.ops)``), then one per op with kernel scratch (live at that
    op). Tensor buffers come in the order their storage is first touched."""
    model = model or storage_model(g)
    n = len(g.ops)
    first: dict[int, int] = {}
    last: dict[int, int] = {}

    def touch(s: int, step: int) -> None:
        first.setdefault(s, step)
        last[s] = max(last.get(s, step), step)

    for s in model.inputs:
        touch(s, -1)
    for i, acc in enumerate(model.access):
        for s in acc.writes + acc.reads:
            touch(s, i)
    for s in model.outputs:
        touch(s, n)
    out = [Buffer("tensor", s, model.nbytes[s], first[s], last[s]) for s in first]
    out += [Buffer("scratch", op.id, acc.scratch, i, i + acc.scratch_steps - 1)
            for i, (op, acc) in enumerate(zip(g.ops, model.access)) if acc.scratch]
    return out


@dataclass(frozen=True)
class Sharing:
    """The buffer pairs of a schedule whose bytes an op's output shares with a dying input. The output
    is born at the step where the input dies."""

    inplace: Mapping[Buffer, Buffer] = field(default_factory=dict)  # output -> input, same offset
    # output -> (input, margin): the output starts margin or more bytes below the input
    overlap: Mapping[Buffer, tuple[Buffer, int]] = field(default_factory=dict)


def sharing(g: Graph, bufs: list[Buffer], model: StorageModel | None = None) -> Sharing:
    """Each op's :meth:`Access.share` for the schedule of ``bufs`` (an input dies where its buffer ends)."""
    model = model or storage_model(g)
    tensor = {b.id: b for b in bufs if b.kind == "tensor"}
    inplace: dict[Buffer, Buffer] = {}
    overlap: dict[Buffer, tuple[Buffer, int]] = {}
    for i, acc in enumerate(model.access):
        sh = acc.share(lambda s: tensor[s].last == i)
        if sh is None:
            continue
        out, src = tensor[acc.output], tensor[sh.source]
        if sh.margin is None:
            inplace[out] = src
        else:
            overlap[out] = (src, sh.margin)
    return Sharing(inplace, overlap)


def shared_bytes(src: int, out: int, margin: int | None) -> int:
    """Bytes an output of aligned size ``out`` shares with the dying input of aligned size ``src`` it is
    placed on: all of the smaller exactly in place (``margin`` None; in practice the sizes are equal),
    else what overlapping ``margin`` bytes below leaves in common."""
    if margin is None:
        return min(src, out)
    both = src + out
    return both - min(both, max(src + align(margin), out))


def live_bytes(bufs: list[Buffer], share: Sharing | None = None, steps: Iterable[int] | None = None) -> list[int]:
    """Aligned bytes live at each of ``steps`` (default: the first buffer's first step to the last's last),
    bytes shared per ``share`` counted once."""
    share = share or Sharing()
    if steps is None:
        steps = range(min((b.first for b in bufs), default=0), max((b.last for b in bufs), default=-1) + 1)
    saved: dict[int, int] = {}
    pairs = [(o, n, None) for o, n in share.inplace.items()] + [(o, n, m) for o, (n, m) in share.overlap.items()]
    for o, n, m in pairs:  # the output is born where the input dies: they share bytes at that step
        saved[o.first] = saved.get(o.first, 0) + shared_bytes(align(n.size), align(o.size), m)
    return [sum(align(b.size) for b in bufs if b.first <= s <= b.last) - saved.get(s, 0) for s in steps]


def lower_bound(bufs: list[Buffer], share: Sharing | None = None) -> int:
    """Most bytes live at any step: no plan using at most ``share``'s sharing can be smaller."""
    return max(live_bytes(bufs, share), default=0)

