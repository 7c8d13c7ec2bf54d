"""Memory planner properties: no two live buffers overlap, plans respect the lower bound; the liveness
model the scheduler, planner and plots share."""

import dataclasses

import numpy as np
from hypothesis import given, settings, strategies as st

from edgeq.ir import Buffer, Graph, Lowered, Op, Tensor
from edgeq.passes.graph.schedule import schedule_memory, schedule_peak
from edgeq.passes.memory.liveness import (Sharing, align, live_bytes, live_ranges, lower_bound, sharing,
                                          storage_model)
from edgeq.passes.memory.planner import (check_plan, greedy_plan, group_buffers, plan_memory, plan_violations,
                                         plan_with_inplace)


def T(i: int, size: int, first: int, last: int) -> Buffer:
    return Buffer("tensor", i, size, first, last)


@st.composite
def buffer_sets(draw):
    n = draw(st.integers(1, 40))
    bufs = []
    for i in range(n):
        first = draw(st.integers(-1, 30))
        last = draw(st.integers(first, 31))
        bufs.append(T(i, draw(st.integers(1, 5000)), first, last))
    return bufs


@settings(max_examples=300, deadline=None)
@given(buffer_sets())
def test_plan_has_no_overlap_and_respects_bounds(bufs):
    offsets = greedy_plan(bufs)
    assert check_plan(bufs, offsets) == []
    size = max(offsets[b] + align(b.size) for b in bufs)
    assert size >= lower_bound(bufs)
    assert all(o % 16 == 0 for o in offsets.values())
    # never worse than giving every buffer its own bytes
    assert size <= sum(align(b.size) for b in bufs)


def test_chain_reuses_memory():
    # a -> b -> c -> d: only neighbours are live together
    bufs = [T(i, 1000, i - 1, i) for i in range(4)]
    offsets = greedy_plan(bufs)
    size = max(offsets[b] + align(b.size) for b in bufs)
    assert size == 2 * align(1000) == lower_bound(bufs)
    assert live_bytes(bufs) == [align(1000)] + [2 * align(1000)] * 3 + [align(1000)]


def test_check_plan_detects_overlap():
    a, b = T(0, 100, 0, 2), T(1, 100, 1, 3)
    assert check_plan([a, b], {a: 0, b: 50}) == [(a, b)]
    assert check_plan([a, b], {a: 0, b: 112}) == []


def test_buffer_kind_is_checked():
    import pytest

    with pytest.raises(ValueError, match="kind"):
        Buffer("const", 0, 16, 0, 1)


# --- in-place pairs ---------------------------------------------------------------------------------


@st.composite
def buffer_sets_with_inplace(draw):
    """Random buffers, some of which are in-place outputs of a same-sized input that dies where they
    are born (as the planner pairs them: each input used by at most one output)."""
    bufs = draw(buffer_sets())
    pairs: dict[Buffer, Buffer] = {}
    for i in range(draw(st.integers(0, 10))):
        src = draw(st.sampled_from(bufs))
        # a tensor is read after the op that writes it: an in-place source has first < last
        if src in pairs.values() or src.last >= 31 or src.first >= src.last:
            continue
        out = T(len(bufs), src.size, src.last, draw(st.integers(src.last + 1, 31)))
        bufs.append(out)
        pairs[out] = src
    return bufs, pairs


@settings(max_examples=300, deadline=None)
@given(buffer_sets_with_inplace())
def test_inplace_plan_is_valid_and_respects_bounds(case):
    bufs, pairs = case
    offsets = plan_with_inplace(bufs, pairs)
    assert check_plan(bufs, offsets, Sharing(pairs)) == []
    assert all(offsets[o] == offsets[i] for o, i in pairs.items())
    size = max(offsets[b] + align(b.size) for b in bufs)
    lb = lower_bound(bufs, Sharing(pairs))
    assert lb <= size
    # sharing never needs more memory than not sharing, bound and plan alike
    assert lb <= lower_bound(bufs)
    groups, group = group_buffers(bufs, pairs)
    assert len(groups) == len(bufs) - len(pairs) and set(group) == set(bufs)
    # the bytes live at each step are those of the groups live then (a group: one block of bytes)
    steps = range(-1, 32)
    assert live_bytes(bufs, Sharing(pairs), steps) == live_bytes(groups, None, steps)


def test_check_plan_inplace_rules():
    a, b = T(0, 100, 0, 2), T(1, 100, 2, 4)
    ip = Sharing({b: a})
    assert check_plan([a, b], {a: 0, b: 0}, ip) == []  # exactly on its dying input
    assert check_plan([a, b], {a: 0, b: 0}) == [(a, b)]  # not declared in-place
    assert check_plan([a, b], {a: 0, b: 16}, ip) == [(a, b)]  # shifted: not the in-place layout
    c = T(0, 100, 0, 3)  # input still read after the op: cannot be overwritten
    assert check_plan([c, b], {c: 0, b: 0}, Sharing({b: c})) == [(c, b)]
    d = T(2, 100, 1, 3)  # a third buffer may not share the pair's bytes
    assert check_plan([a, b, d], {a: 0, b: 0, d: 0}, ip) == [(a, d), (b, d)]


def test_scratch_and_tensor_buffers_are_told_apart():
    # a tensor and a scratch buffer with the same id are two buffers; one may not sit on the other
    t, s = T(3, 100, 2, 4), Buffer("scratch", 3, 64, 3, 3)
    assert t != s and check_plan([t, s], {t: 0, s: 0}) == [(t, s)]
    assert check_plan([t, s], {t: 0, s: 112}) == []


def test_inplace_chain_lower_bound():
    # x -> conv -> t0; t1 = act(t0) in place; t2 = add(skip, t1) in place: two buffers, not three
    skip = T(0, 1000, -1, 3)
    t0, t1, t2 = T(1, 1000, 1, 2), T(2, 1000, 2, 3), T(3, 1000, 3, 4)
    bufs, pairs = [skip, t0, t1, t2], {t1: t0, t2: t1}
    assert lower_bound(bufs) == 3 * align(1000)
    assert lower_bound(bufs, Sharing(pairs)) == 2 * align(1000)
    offsets = plan_with_inplace(bufs, pairs)
    assert max(offsets[b] + align(b.size) for b in bufs) == 2 * align(1000)


# --- the liveness model on a graph -----------------------------------------------------------------


def _liveness_graph() -> Graph:
    """x -> EW (in place, but x is the model input) -> a; RESHAPE a -> a2 (alias); WIN a2 -> b (overlap
    margin 5, 40 B scratch); EW (b, constant c) -> y (in place over b), the model output."""
    t = (Tensor(0, "x", (100,), "int8"), Tensor(1, "a", (100,), "int8"),
         Tensor(2, "a2", (10, 10), "int8", alias_of=1), Tensor(3, "b", (100,), "int8"),
         Tensor(4, "c", (1,), "int8", data=np.zeros(1, np.int8)), Tensor(5, "y", (100,), "int8"))
    ops = (Op(0, "EW", (0,), (1,), lowered=Lowered("k0", "s", "x", (), (0, 1), inplace=True)),
           Op(1, "RESHAPE", (1,), (2,)),
           Op(2, "WIN", (2,), (3,), lowered=Lowered("k2", "s", "x", (), (2, 3), scratch_bytes=40, overlap_margin=5)),
           Op(3, "EW", (3, 4), (5,), lowered=Lowered("k3", "s", "x", (), (3, 4, 5), inplace=True)))
    return Graph(t, ops, (0,), (5,))


def test_storage_model_names_what_each_op_touches():
    g = _liveness_graph()
    m = storage_model(g)
    assert m.inputs == (0,) and m.outputs == (5,) and dict(m.nbytes) == {0: 100, 1: 100, 3: 100, 5: 100}
    ew, reshape, win, ew2 = m.access
    assert (ew.reads, ew.writes, ew.inplace, ew.overlap) == ((0,), (1,), (), None)  # the model input stays
    assert (reshape.reads, reshape.writes, reshape.output) == ((1,), (), None)  # an alias writes nothing
    assert (win.reads, win.writes, win.scratch, win.overlap) == ((1,), (3,), 40, (1, 5))
    assert (ew2.reads, ew2.inplace) == ((3,), (3,))  # the constant is no storage
    assert win.share(lambda s: True).margin == 5 and win.share(lambda s: False) is None
    assert ew2.share(lambda s: s == 3).margin is None


def test_live_ranges_sharing_and_bytes_per_step():
    g = _liveness_graph()
    bufs = live_ranges(g)
    x, a, b, y, s = bufs
    assert bufs == [T(0, 100, -1, 0), T(1, 100, 0, 2), T(3, 100, 2, 3), T(5, 100, 3, 4),
                    Buffer("scratch", 2, 40, 2, 2)]
    share = sharing(g, bufs)
    assert share == Sharing({y: b}, {b: (a, 5)})
    # step 2: a, b and the scratch; b 5 bytes (16 aligned) below a shares 112 - 16 of a's 112 bytes
    assert live_bytes(bufs, share, range(-1, 5)) == [112, 224, 112, 112 + 112 + 48 - 96, 112, 112]
    planned = plan_memory(g)
    p = planned.plan
    assert p.live == (112, 224, 112, 176, 112, 112) and p.lower_bound == 224 == schedule_peak(g)
    assert p.offsets[2] == p.offsets[1] and set(p.offsets) == {0, 1, 2, 3, 5} and set(p.scratch) == {2}
    assert p.offset(s) == p.scratch[2] and p.offset(a) == p.offsets[1]
    assert p.offsets[3] <= p.offsets[1] - 5 and p.offsets[5] == p.offsets[3]
    assert plan_violations(planned) == []
    # a plan that puts the scratch on b (which overlaps a) is caught
    bad = dataclasses.replace(p, scratch={2: p.offsets[3]})
    assert plan_violations(dataclasses.replace(planned, plan=bad)) == [(a, s), (b, s)]


# --- whole graphs: schedule + plan, executed on a simulated arena -------------------------------------


@st.composite
def random_graphs(draw):
    """Random DAGs of 'elementwise' ops (in-place capable, same size as their first input) and
    'mixing' ops (every output byte reads all of every input; any size)."""
    n_in = draw(st.integers(1, 2))
    tensors = [Tensor(i, f"in{i}", (draw(st.integers(1, 300)),), "int8") for i in range(n_in)]
    ops = []
    for k in range(draw(st.integers(1, 12))):
        avail = list(range(len(tensors)))
        elementwise = draw(st.booleans())
        ins = draw(st.lists(st.sampled_from(avail), min_size=1, max_size=3))
        if elementwise:
            ins = [i for i in ins if tensors[i].numel == tensors[ins[0]].numel]
            size = tensors[ins[0]].numel
        else:
            size = draw(st.integers(1, 300))
        out = len(tensors)
        tensors.append(Tensor(out, f"t{out}", (size,), "int8"))
        low = Lowered(f"k{k}", "s", "x", (), tuple(ins) + (out,), scratch_bytes=draw(st.sampled_from([0, 0, 40])),
                      inplace=elementwise)
        ops.append(Op(k, "EW" if elementwise else "MIX", tuple(ins), (out,), lowered=low))
    produced = {o.outputs[0] for o in ops}
    read = {t for o in ops for t in o.inputs}
    outputs = tuple(sorted((produced - read) | {ops[-1].outputs[0]}))
    return Graph(tuple(tensors), tuple(ops), tuple(range(n_in)), outputs)


def _run(g: Graph, inputs: dict[int, np.ndarray], arena: bool) -> dict[int, np.ndarray]:
    """Execute with each tensor at its planned offset in one byte array (or in private arrays)."""
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
        tag = int(op.lowered.kernel[1:])  # ids change when the scheduler reorders
        if op.lowered.scratch_bytes and arena:
            s = g.plan.scratch[op.id]
            mem[s:s + op.lowered.scratch_bytes] = -1  # kernels may scribble on their scratch
        if op.kind == "EW":  # element by element: read element i of each input, then write it
            for i in range(len(out)):
                out[i] = (sum(int(view(t)[i]) for t in op.inputs) * 3 + tag) % 251
        else:  # every output element reads every input in full at the time it is written
            for j in range(len(out)):
                out[j] = (sum(int(view(t).sum()) for t in op.inputs) + j * 7 + tag) % 251
    return {t: view(t).copy() for t in g.outputs}


@settings(max_examples=150, deadline=None)
@given(random_graphs(), st.randoms(use_true_random=False))
def test_schedule_and_inplace_plan_compute_the_same_bytes(g, rnd):
    planned = plan_memory(schedule_memory(g))
    # (plan_memory itself raises if check_plan, with the in-place pairs, finds an overlap)
    assert plan_violations(planned) == []
    assert planned.plan.size >= planned.plan.lower_bound == schedule_peak(planned)
    assert schedule_peak(planned) <= schedule_peak(g)
    # topological
    seen = set(g.inputs)
    for op in planned.ops:
        assert all(t in seen for t in op.inputs)
        seen.update(op.outputs)
    ins = {t: np.array([rnd.randrange(251) for _ in range(g.tensor(t).numel)]) for t in g.inputs}
    want = _run(plan_memory(g), ins, arena=False)
    got = _run(planned, ins, arena=True)
    assert want.keys() == got.keys()
    for t in want:
        np.testing.assert_array_equal(got[t], want[t])


def test_schedule_memory_finds_the_lower_peak_order():
    # x feeds two branches, each a big expansion reduced to a small tensor; file order runs both
    # expansions first (x + 2 big live), the best order finishes one branch before starting the other.
    t = [Tensor(0, "x", (100,), "int8")]
    def add(size):
        t.append(Tensor(len(t), f"t{len(t)}", (size,), "int8"))
        return len(t) - 1
    a, b = add(1000), add(1000)
    ra, rb = add(10), add(10)
    y = add(20)
    spec = [(("MIX"), (0,), a), ("MIX", (0,), b), ("MIX", (a,), ra), ("MIX", (b,), rb), ("MIX", (ra, rb), y)]
    ops = tuple(Op(i, k, ins, (o,), lowered=Lowered("k", "s", "x", (), ins + (o,))) for i, (k, ins, o) in enumerate(spec))
    g = Graph(tuple(t), ops, (0,), (y,))
    assert schedule_peak(g) == align(100) + 2 * align(1000)
    g2 = plan_memory(schedule_memory(g))
    assert [op.outputs[0] for op in g2.ops] == [a, ra, b, rb, y]
    assert g2.plan.lower_bound == schedule_peak(g2) == align(100) + align(1000) + align(10)
    assert g2.plan.size == g2.plan.lower_bound
