"""Memory planner properties: no two live buffers overlap, plans respect the lower bound."""

import numpy as np
from hypothesis import given, settings, strategies as st

from edgeq.ir import Buffer, Graph, Lowered, Op, Tensor
from edgeq.passes.graph.schedule import schedule_memory, schedule_peak
from edgeq.passes.memory.planner import (_align, check_plan, greedy_plan, group_buffers, lower_bound, plan_memory,
                                 plan_with_inplace)


@st.composite
def buffer_sets(draw):
    n = draw(st.integers(1, 40))
    bufs = []
    for i in range(n):
        first = draw(st.integers(-1, 30))
        last = draw(st.integers(first, 31))
        bufs.append(Buffer(i, draw(st.integers(1, 5000)), first, last))
    return bufs


@settings(max_examples=300, deadline=None)
@given(buffer_sets())
def test_plan_has_no_overlap_and_respects_bounds(bufs):
    offsets = greedy_plan(bufs)
    assert check_plan(bufs, offsets) == []
    size = max(offsets[b.tensor] + _align(b.size) for b in bufs)
    assert size >= lower_bound(bufs)
    assert all(o % 16 == 0 for o in offsets.values())
    # never worse than giving every buffer its own bytes
    assert size <= sum(_align(b.size) for b in bufs)


def test_chain_reuses_memory():
    # a -> b -> c -> d: only neighbours are live together
    bufs = [Buffer(i, 1000, i - 1, i) for i in range(4)]
    offsets = greedy_plan(bufs)
    size = max(offsets[b.tensor] + _align(b.size) for b in bufs)
    assert size == 2 * _align(1000) == lower_bound(bufs)


def test_check_plan_detects_overlap():
    bufs = [Buffer(0, 100, 0, 2), Buffer(1, 100, 1, 3)]
    assert check_plan(bufs, {0: 0, 1: 50}) == [(0, 1)]
    assert check_plan(bufs, {0: 0, 1: 112}) == []


# --- in-place pairs ---------------------------------------------------------------------------------


@st.composite
def buffer_sets_with_inplace(draw):
    """Random buffers, some of which are in-place outputs of a same-sized input that dies where they
    are born (as the planner pairs them: each input used by at most one output)."""
    bufs = draw(buffer_sets())
    pairs: dict[int, int] = {}
    for i in range(draw(st.integers(0, 10))):
        src = draw(st.sampled_from(bufs))
        # a tensor is read after the op that writes it: an in-place source has first < last
        if src.tensor in pairs.values() or src.last >= 31 or src.first >= src.last:
            continue
        t = len(bufs)
        bufs.append(Buffer(t, src.size, src.last, draw(st.integers(src.last + 1, 31))))
        pairs[t] = src.tensor
    return bufs, pairs


@settings(max_examples=300, deadline=None)
@given(buffer_sets_with_inplace())
def test_inplace_plan_is_valid_and_respects_bounds(case):
    bufs, pairs = case
    offsets = plan_with_inplace(bufs, pairs)
    assert check_plan(bufs, offsets, pairs) == []
    assert all(offsets[o] == offsets[i] for o, i in pairs.items())
    size = max(offsets[b.tensor] + _align(b.size) for b in bufs)
    lb = lower_bound(bufs, pairs)
    assert lb <= size
    # sharing never needs more memory than not sharing, bound and plan alike
    assert lb <= lower_bound(bufs)
    groups, root = group_buffers(bufs, pairs)
    assert len(groups) == len(bufs) - len(pairs) and set(root) == {b.tensor for b in bufs}


def test_check_plan_inplace_rules():
    a, b = Buffer(0, 100, 0, 2), Buffer(1, 100, 2, 4)
    assert check_plan([a, b], {0: 0, 1: 0}, {1: 0}) == []  # exactly on its dying input
    assert check_plan([a, b], {0: 0, 1: 0}) == [(0, 1)]  # not declared in-place
    assert check_plan([a, b], {0: 0, 1: 16}, {1: 0}) == [(0, 1)]  # shifted: not the in-place layout
    c = Buffer(0, 100, 0, 3)  # input still read after the op: cannot be overwritten
    assert check_plan([c, b], {0: 0, 1: 0}, {1: 0}) == [(0, 1)]
    d = Buffer(2, 100, 1, 3)  # a third buffer may not share the pair's bytes
    assert check_plan([a, b, d], {0: 0, 1: 0, 2: 0}, {1: 0}) == [(0, 2), (1, 2)]


def test_inplace_chain_lower_bound():
    # x -> conv -> t0; t1 = act(t0) in place; t2 = add(skip, t1) in place: two buffers, not three
    skip = Buffer(0, 1000, -1, 3)
    t0, t1, t2 = Buffer(1, 1000, 1, 2), Buffer(2, 1000, 2, 3), Buffer(3, 1000, 3, 4)
    bufs, pairs = [skip, t0, t1, t2], {2: 1, 3: 2}
    assert lower_bound(bufs) == 3 * _align(1000)
    assert lower_bound(bufs, pairs) == 2 * _align(1000)
    offsets = plan_with_inplace(bufs, pairs)
    assert max(offsets[b.tensor] + _align(b.size) for b in bufs) == 2 * _align(1000)


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
            s = g.plan.offsets[-(op.id + 1)]
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
    assert schedule_peak(g) == _align(100) + 2 * _align(1000)
    g2 = plan_memory(schedule_memory(g))
    assert [op.outputs[0] for op in g2.ops] == [a, ra, b, rb, y]
    assert g2.plan.lower_bound == schedule_peak(g2) == _align(100) + _align(1000) + _align(10)
    assert g2.plan.size == g2.plan.lower_bound
