"""Endurance on the emulated Cortex-M4 (mps2-an386): back-to-back inferences through the bench protocol.

The fast subset of ``tests/tools/soak.py`` (the full runs, 10,000 inferences each and the one-hour
mode, are commands in docs/reliability.md): the example digits CNN's bench firmware under QEMU, a pool
of inputs whose outputs LiteRT's reference kernels computed, and

* 300 inferences on a clean link: all correct, no retry;
* 100 inferences through the FaultProxy at 1 % per byte each way: none wrong (a few may be refused);

each with the board's stack high-water mark the same at every window (give or take one SysTick exception
frame, see EXCEPTION_FRAME), the host's RSS growing by less
than 1 MiB from the first window to the last, and the last window's median time per inference within
3x of the first's (the machine is shared: the bound catches a slowdown that grows with the run, not
load noise). A planted wrong expectation shows the soak counts wrong answers.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from edgeq.api import generate_c
from edgeq.targets.select import target_for
from tests.tools import soak as S

pytestmark = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

RSS_GROWTH_KIB = 1024
TIME_RATIO = 3.0
# The bench firmware's only interrupt is SysTick's wrap (every 2^24 cycles, a handler that pushes nothing).
# When it lands while the deepest kernel call runs, the exception frame sits below that call's frames and
# the high-water mark rises once by it: 32 bytes (8 registers) + 4 of alignment were seen once in 20,000
# inferences (732 -> 768 bytes); with FP context stacked it would be 104 + 4.
EXCEPTION_FRAME = 108


@pytest.fixture(scope="module")
def model():
    return S.digits_int8()


@pytest.fixture(scope="module")
def pool(model):
    pool = S.reference_pool(model, 32, seed=1)
    assert len({c.outputs for c in pool}) > 8  # answers differ: a mixed-up or stale one shows as wrong
    return pool


@pytest.fixture(scope="module")
def port(model, tmp_path_factory):
    d = tmp_path_factory.mktemp("soak")
    target = target_for(S.BOARD)
    lib = generate_c(model, d / "model", prefix="model")
    build = target.build(lib.dir, d / "fw")
    with target.session(build.elf) as port:
        yield port


def _soak(pool, **kw) -> S.Soak:
    return S.Soak(model="digits", board=S.BOARD, fault_rate=kw.get("fault_rate", 0.0), seed=kw.get("seed", 0),
                  pool=len(pool), distinct_outputs=len({c.outputs for c in pool}), timeout=kw["timeout"],
                  retries_allowed=kw["retries"])


def _check_steady(soak: S.Soak) -> None:
    stack = soak.stack_values()
    assert len(stack) >= len(soak.windows) - 1, soak.windows  # at most one STACK sample lost to faults
    assert 0 < stack[0] < soak.stack_size, stack
    # constant high-water mark: the deepest call, plus at most one exception frame arriving at its deepest point
    assert stack == sorted(stack) and stack[-1] - stack[0] <= EXCEPTION_FRAME, stack
    assert soak.rss_growth_kib() < RSS_GROWTH_KIB, [w.rss_kib for w in soak.windows]
    assert soak.time_ratio() <= TIME_RATIO, [(w.median_ms, w.mean_ms) for w in soak.windows]


def test_clean_link_300_inferences(port, pool):
    kw = dict(timeout=2.0, retries=3)
    soak = S.run(port, pool, inferences=300, duration=None, window=100, soak=_soak(pool, **kw), **kw)
    print()
    print(S.format_table(soak))
    assert (soak.inferences, soak.correct, soak.refused, soak.wrong) == (300, 300, 0, 0), soak.refusals
    assert len(soak.windows) == 3 and soak.link["retries"] == 0
    _check_steady(soak)
    doc = json.loads(json.dumps(soak.to_json()))
    assert doc["summary"]["wrong"] == 0 and len(doc["windows"]) == 3


def test_faulty_link_100_inferences_at_1_percent(port, pool):
    kw = dict(timeout=0.1, retries=6, fault_rate=0.01, seed=5)
    soak = S.run(port, pool, inferences=100, duration=None, window=50, invoke_timeout=1.0, soak=_soak(pool, **kw),
                 **kw)
    print()
    print(S.format_table(soak))
    assert soak.wrong == 0, soak.wrong_examples  # never a wrong answer
    assert soak.inferences == 100 and soak.correct >= 95, soak.refusals
    faults = soak.proxy["to_device"]["faults"] + soak.proxy["to_host"]["faults"]
    assert faults > 100 and soak.link["retries"] > 0  # the faults were real and the link recovered
    _check_steady(soak)


def test_soak_counts_a_wrong_answer(port, pool):
    """A pool with one expectation altered: the soak reports exactly those inferences as wrong."""
    bad = list(pool[:4])
    out = bytearray(bad[2].outputs[0])
    out[0] ^= 1
    bad[2] = replace(bad[2], outputs=(bytes(out),))
    kw = dict(timeout=2.0, retries=3)
    soak = S.run(port, bad, inferences=8, duration=None, window=4, soak=_soak(bad, **kw), **kw)
    assert (soak.correct, soak.wrong) == (6, 2)
    assert [e["inference"] for e in soak.wrong_examples] == [2, 6]
    assert "wrong 2" in S.format_table(soak)


def test_duration_stops_the_soak(port, pool):
    kw = dict(timeout=2.0, retries=3)
    soak = S.run(port, pool, inferences=None, duration=1.0, window=20, soak=_soak(pool, **kw), **kw)
    assert 0 < soak.inferences and soak.wrong == soak.refused == 0
    assert 1.0 <= soak.seconds < 1.0 + 5.0  # stops at the first window boundary after the duration
