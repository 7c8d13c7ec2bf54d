"""codegen.emit stores a constant array once: arrays with identical C type and values (the weights of every
step of an unrolled recurrent layer, lowered once per step) become one definition that every use names. And
model.c expands the per-op hooks once, not at every op."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from edgeq.codegen.emit import format_values, generate, render_context
from edgeq.ir import ArrayRef, Graph, Op, Quant, Tensor
from edgeq.passes.pipeline import compile_graph
from edgeq.targets.host import HostModel

_ACT = Quant((0.05,), (3,))


def _chain(same_weights: bool, one_tensor: bool = False) -> Graph:
    """x -> FULLY_CONNECTED(w1) -> FULLY_CONNECTED(w2) -> y, w2 == w1 (as separate tensors) or not;
    ``one_tensor``: the second op reads w1 and b1 themselves."""
    rng = np.random.default_rng(0)
    w1 = rng.integers(-127, 128, (8, 8)).astype(np.int8)
    w2 = w1.copy() if same_weights else (w1 // 2).astype(np.int8)
    bias = np.arange(8, dtype=np.int32)
    ts = (
        Tensor(0, "x", (1, 8), "int8", _ACT),
        Tensor(1, "w1", (8, 8), "int8", Quant((0.01,), (0,)), w1),
        Tensor(2, "b1", (8,), "int32", Quant((0.0005,), (0,)), bias),
        Tensor(3, "h", (1, 8), "int8", _ACT),
        Tensor(4, "w2", (8, 8), "int8", Quant((0.01,), (0,)), w2),
        Tensor(5, "b2", (8,), "int32", Quant((0.0005,), (0,)), bias.copy()),
        Tensor(6, "y", (1, 8), "int8", _ACT),
    )
    fc = {"fused_activation_function": "NONE"}
    ops = (Op(0, "FULLY_CONNECTED", (0, 1, 2), (3,), fc, location="h"),
           Op(1, "FULLY_CONNECTED", (3, 1, 2) if one_tensor else (3, 4, 5), (6,), fc, location="y"))
    return compile_graph(Graph(ts, ops, (0,), (6,)))


def _uses(g: Graph) -> list[tuple[str, ArrayRef]]:
    return [(f"{k}", v) for op in g.ops for k, v in op.lowered.fields if isinstance(v, ArrayRef)]


def test_identical_arrays_are_emitted_once_and_every_use_names_equal_values():
    g = _chain(same_weights=True)
    ctx = render_context(g)
    emitted = {a["name"]: (a["ctype"], a["lines"]) for a in ctx["arrays"]}
    keys = [(c, tuple(lines)) for c, lines in emitted.values()]
    assert len(keys) == len(set(keys)), "two definitions with the same type and values"
    refs = _uses(g)
    assert len(emitted) < len(refs), "the second op's weights and biases were stored again"
    # each op's params name an emitted array holding exactly the values its lowering gave
    for op_ctx, op in zip(ctx["ops"], g.ops):
        fields = dict(op_ctx["fields"])
        for k, v in op.lowered.fields:
            if isinstance(v, ArrayRef):
                ctype, lines = emitted[fields[k]]
                assert ctype == v.ctype and lines == format_values(v.values, v.ctype), (op.id, k)
    assert ctx["weights_bytes"] == sum(np.asarray(v.values).nbytes for _, v in
                                       {(r.ctype, np.asarray(r.values).tobytes()): (k, r) for k, r in refs}.values())


def test_same_values_of_another_type_or_other_values_stay_separate():
    g = _chain(same_weights=False)
    ctx = render_context(g)
    packed = [a for a in ctx["arrays"] if a["name"].endswith("_wpacked")]
    assert len(packed) == 2  # different weights: two arrays
    # the two biases hold the same numbers; as int32 arrays they are one, never merged with an array of
    # another element type holding the same numbers
    by_values: dict[tuple, set[str]] = {}
    for a in ctx["arrays"]:
        by_values.setdefault(tuple(a["lines"]), set()).add(a["ctype"])
    for lines, ctypes in by_values.items():
        assert len([a for a in ctx["arrays"] if tuple(a["lines"]) == lines]) == len(ctypes)


def test_deduplicated_library_computes_what_the_separate_weights_compute(tmp_path):
    """The chain with w2 == w1 stored as two tensors and the same chain with both ops on one tensor
    give the same bytes: sharing the definition changed nothing but the flash used."""
    two, one = _chain(same_weights=True), _chain(same_weights=True, one_tensor=True)
    rng = np.random.default_rng(1)
    xs = [rng.integers(-128, 128, (1, 8)).astype(np.int8) for _ in range(8)]
    a = HostModel(generate(two, tmp_path / "two"))
    b = HostModel(generate(one, tmp_path / "one"))
    for x in xs:
        assert a.run([x])[0].tobytes() == b.run([x])[0].tobytes()
    assert a.lib.context["weights_bytes"] == b.lib.context["weights_bytes"]


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")
@pytest.mark.parametrize("hooks", [True, False])
def test_op_hooks_are_expanded_once(tmp_path, hooks):
    """model.c compiled for the M4 with the bench's profiling hooks (as the bench firmware builds it): the hook
    functions are called from model_op_begin / model_op_end only, once each whatever the number of ops (they
    cost about 36 B an op when expanded at every op); without hooks nothing of them is left."""
    from edgeq.targets.boards import load_board
    from edgeq.targets.firmware import BENCH_HOOKS_HEADER
    from edgeq.targets.toolchain import CFLAGS

    lib = generate(_chain(same_weights=False), tmp_path / "lib")
    obj = tmp_path / "model.o"
    inc = ["-include", str(BENCH_HOOKS_HEADER)] if hooks else []
    subprocess.run(["arm-none-eabi-gcc", *CFLAGS, "-Werror", *load_board("mps2-an386").cflags(), *inc,
                    f"-I{lib.dir}", "-c", str(lib.dir / "model.c"), "-o", str(obj)], check=True)
    relocs = subprocess.run(["arm-none-eabi-objdump", "-r", str(obj)], check=True, capture_output=True,
                            text=True).stdout
    branches = [line.split()[-1] for line in relocs.splitlines()
                if "R_ARM_THM_CALL" in line or "R_ARM_THM_JUMP" in line]
    # (GCC may specialize a hook function for constant arguments: model_op_end.constprop.0)
    calls = {f: sum(b.split(".")[0] == f for b in branches)
             for f in ("bench_op_begin", "bench_op_end", "model_op_begin", "model_op_end")}
    if hooks:
        assert calls == {"bench_op_begin": 1, "bench_op_end": 1, "model_op_begin": 2, "model_op_end": 2}, calls
    else:
        assert calls == dict.fromkeys(calls, 0), calls
