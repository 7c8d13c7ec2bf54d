"""passes.memory.scratch: ops offering larger scratch (Lowered.scratch_options) take the largest that fits in
the arena bytes free during them, without growing the arena or moving any other buffer."""

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from edgeq.ir import Graph, Lowered, Op, Tensor
from edgeq.passes.memory.liveness import align
from edgeq.passes.memory.planner import plan_memory, plan_violations
from edgeq.passes.memory.scratch import free_gaps, upgrade_scratch
from paths import MLPERF


def _options(*sizes):
    return tuple((s, (("level", k),)) for k, s in enumerate(sizes))


def _op(k, ins, out, options=()):
    low = Lowered(f"k{k}", "s", "x", (("level", 0), ("other", 7)), tuple(ins) + (out,),
                  scratch_bytes=options[0][0] if options else 0, scratch_options=options)
    return Op(k, "MIX", tuple(ins), (out,), lowered=low)


def _chain() -> Graph:
    """in (1000 B) -> op0 -> a (1000) -> op1 -> b (96) -> op2 -> c (1000): op0 and op2 hold two 1000-byte
    tensors (the arena's peak with op0's 64-byte scratch), op1 holds 1000 + 96 bytes."""
    t = (Tensor(0, "in", (1000,), "int8"), Tensor(1, "a", (1000,), "int8"), Tensor(2, "b", (96,), "int8"),
         Tensor(3, "c", (1000,), "int8"))
    ops = (_op(0, (0,), 1, _options(64, 128, 4000)), _op(1, (1,), 2, _options(32, 400, 900, 960)),
           _op(2, (2,), 3, _options(48, 64)))
    return Graph(t, ops, (0,), (3,))


def _level(g: Graph, k: int) -> int:
    return dict(g.ops[k].lowered.fields)["level"]


def test_upgrade_takes_the_largest_option_that_fits():
    g = plan_memory(_chain())
    size = g.plan.size
    assert size == 2 * align(1000) + 64  # op0's step: in, a and its planned scratch
    up = upgrade_scratch(g)
    p = up.plan
    assert p.size == size and p.offsets == g.plan.offsets  # arena and tensors untouched
    # op0: at the peak, its planned 64 bytes only; op1: 2080 - 1008 (a) - 96 (b) = 976 bytes free, 960 fit;
    # op2: b (96) and c (1000) leave 2080 - 1104 = 976, so 64 fits
    assert [_level(up, k) for k in range(3)] == [0, 3, 1]
    assert [op.lowered.scratch_bytes for op in up.ops] == [64, 960, 64]
    assert all(dict(op.lowered.fields)["other"] == 7 for op in up.ops)  # other fields as they were
    assert plan_violations(up) == []
    assert max(p.live) <= p.size and p.live != g.plan.live  # the liveness of the upgraded graph
    assert {b.id: b.size for b in p.buffers if b.kind == "scratch"} == {0: 64, 1: 960, 2: 64}


def test_upgrade_without_room_or_options_changes_nothing():
    t = (Tensor(0, "in", (1000,), "int8"), Tensor(1, "a", (1000,), "int8"))
    g = plan_memory(Graph(t, (_op(0, (0,), 1, _options(64, 80)),), (0,), (1,)))
    assert upgrade_scratch(g) == g  # the one op is the peak: 16 more bytes would grow the arena
    plain = plan_memory(Graph(t, (_op(0, (0,), 1),), (0,), (1,)))
    assert upgrade_scratch(plain) is plain
    assert upgrade_scratch(_chain()) == _chain()  # no plan yet: nothing to fit into


def test_option_from_no_scratch_may_name_another_kernel():
    """A kernel without planned scratch (int8 ADD/SUB's flash tables) whose option has scratch: the op gets a
    scratch buffer in a free gap, and the option's ("kernel", name) replaces the kernel (the call then passes the
    scratch pointer)."""
    g = _chain()
    low = dataclasses.replace(g.ops[1].lowered, kernel="plain", scratch_bytes=0,
                              scratch_options=((0, ()), (900, (("kernel", "with_scratch"), ("level", 1)))))
    g = plan_memory(dataclasses.replace(g, ops=(g.ops[0], dataclasses.replace(g.ops[1], lowered=low), g.ops[2])))
    up = upgrade_scratch(g)
    assert (up.ops[1].lowered.kernel, up.ops[1].lowered.scratch_bytes, _level(up, 1)) == ("with_scratch", 900, 1)
    assert up.plan.size == g.plan.size and 1 in up.plan.scratch and plan_violations(up) == []
    low = dataclasses.replace(low, scratch_options=((0, ()), (g.plan.size, (("kernel", "with_scratch"),))))
    g = plan_memory(dataclasses.replace(g, ops=(g.ops[0], dataclasses.replace(g.ops[1], lowered=low), g.ops[2])))
    assert upgrade_scratch(g).ops[1].lowered.kernel == "plain"  # no room: the planned variant stays


def test_first_option_must_be_the_planned_scratch():
    g = plan_memory(_chain())
    op = g.ops[1]
    bad = dataclasses.replace(op, lowered=dataclasses.replace(op.lowered, scratch_options=_options(48, 400)))
    with pytest.raises(AssertionError, match="first scratch option"):
        upgrade_scratch(dataclasses.replace(g, ops=(g.ops[0], bad, g.ops[2])))


@st.composite
def graphs_with_options(draw):
    """Random DAGs of 'mixing' ops (no sharing), some with growing scratch options."""
    tensors = [Tensor(0, "in", (draw(st.integers(1, 400)),), "int8")]
    ops = []
    for k in range(draw(st.integers(1, 10))):
        ins = draw(st.lists(st.integers(0, len(tensors) - 1), min_size=1, max_size=2, unique=True))
        out = len(tensors)
        tensors.append(Tensor(out, f"t{out}", (draw(st.integers(1, 400)),), "int8"))
        sizes = sorted(set(draw(st.lists(st.integers(1, 900), min_size=0, max_size=4))))
        ops.append(_op(k, ins, out, _options(*sizes) if sizes else ()))
    read = {t for o in ops for t in o.inputs}
    outputs = tuple(sorted({o.outputs[0] for o in ops} - read | {ops[-1].outputs[0]}))
    return Graph(tuple(tensors), tuple(ops), (0,), outputs)


@settings(max_examples=200, deadline=None)
@given(graphs_with_options())
def test_upgrade_never_grows_the_arena_and_is_maximal(g):
    g = plan_memory(g)
    up = upgrade_scratch(g)
    assert up.plan.size == g.plan.size and up.plan.offsets == g.plan.offsets
    assert plan_violations(up) == []
    scratch = {b.id: b for b in up.plan.buffers if b.kind == "scratch"}
    for i, op in enumerate(up.ops):
        opts = op.lowered.scratch_options
        if not opts:
            continue
        level = _level(up, i)
        assert op.lowered.scratch_bytes == opts[level][0]
        room = max((n for _, n in free_gaps(up.plan, i, scratch[op.id])), default=0)
        assert all(align(s) > room for s, _ in opts[level + 1:])  # no larger option would have fit


@pytest.fixture(scope="session")
def mlperf_dsp():
    from edgeq.passes.pipeline import lower_tflite

    out = {}
    for name in ("resnet8_int8", "kws_dscnn_int8"):
        path = MLPERF / f"{name}.tflite"
        if not path.exists():
            pytest.skip(f"{path} not present")
        out[name] = lower_tflite(path.read_bytes(), cpu="dsp")
    return out


@pytest.mark.parametrize("name,arena", [("resnet8_int8", 26_336), ("kws_dscnn_int8", 10_048)])
def test_mlperf_conv_pairs_fit_the_planned_arena(mlperf_dsp, name, arena):
    """The DSP convolutions' pixel pairs per widening (s4_pairs) are upgraded where the plan leaves room, and
    the arena is what the planner made of the smallest options (test_perf_memory's figures: with resnet8's row
    bands)."""

    g = mlperf_dsp[name]
    assert g.plan.size == arena
    assert plan_violations(g) == []
    pairs = [dict(op.lowered.fields)["s4_pairs"] for op in g.ops
             if op.lowered is not None and op.lowered.kernel == "edgeq_conv_s8_im2col"]
    assert pairs and all(p == 0 or p >= 3 for p in pairs)
    banded = sum(op.lowered.band is not None for op in g.ops if op.lowered is not None
                 and op.lowered.kernel == "edgeq_conv_s8_im2col")
    # row-band members keep the planned scratch (the group holds it); at most two others at the arena's peak
    assert sum(p > 0 for p in pairs) >= len(pairs) - banded - 2
    for op in g.ops:
        low = op.lowered
        if low is not None and low.scratch_options and "s4_pairs" in dict(low.fields):
            level = [f for _, f in low.scratch_options].index((("s4_pairs", dict(low.fields)["s4_pairs"]),))
            assert low.scratch_bytes == low.scratch_options[level][0]
