"""Benchmarking through the bench protocol: what a run on a device measured, as typed results.

``run_device`` drives an open :class:`~edgeq.targets.protocol.Device` (any target: QEMU, a real board,
the host bench): the inferences to check, the latency runs, the per-op profile and the stack high-water
mark. ``latency`` turns raw counter values into the board's unit.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from edgeq.targets.boards import Board


@dataclass
class DeviceRun:
    info: object  # the device's HELLO (protocol.DeviceInfo)
    outputs: list[list[bytes]] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # raw counter values of the latency runs
    profile: list[int] = field(default_factory=list)
    stack_used: int | None = None


@dataclass(frozen=True)
class Latency:
    """Latency of one inference over ``runs`` runs, in ``unit`` (instructions on QEMU, cycles on real
    boards, see Board.counter_unit)."""

    unit: str
    median: float
    min: float
    max: float
    runs: int
    resolution: float
    macs_per_unit: float | None
    ms_at_clock: float  # median at the board's clock (QEMU: one instruction per cycle)


def run_device(dev, *, sha256: bytes | None, inputs: list[list[np.ndarray]], runs: int, progress=None,
               profile: bool = True, flash_hint: str | None = None) -> DeviceRun:
    """Check the model (``sha256``, else just HELLO), run ``inputs`` and ``runs`` latency runs, read the
    per-op profile (``profile``) and the stack high-water mark. A model with state runs ``inputs`` as the
    frames of one sequence from the reset state (``Device.run_sequence``); the latency runs and the
    profile then repeat its last frame from that frame's state."""
    info = dev.check_model(sha256, flash_hint=flash_hint) if sha256 is not None else dev.hello()
    run = DeviceRun(info)
    step = progress("inference on the device", len(inputs)) if progress else (lambda: None)
    frames = [[np.ascontiguousarray(a).tobytes() for a in x] for x in inputs]
    if info.state_bytes:
        run.outputs = [outs for outs, _ in dev.run_sequence(frames, step)]
    else:
        for x in frames:
            outs, _ = dev.infer(x)
            run.outputs.append(outs)
            step()
    bench_in = [np.ascontiguousarray(a).tobytes() for a in inputs[0]] if inputs else None
    if bench_in is None:
        rng = np.random.default_rng(0)
        bench_in = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in info.input_bytes]
    step = progress("latency runs", runs) if progress else (lambda: None)
    for _ in range(runs):
        _, c = dev.infer(bench_in)
        run.counts.append(c)
        step()
    if profile:
        run.profile = dev.profile()
    run.stack_used, _ = dev.stack()
    return run


def latency(board: Board, counts: list[int], macs: int | None) -> Latency:
    vals = [board.counter_to_unit(c) for c in counts]
    med = statistics.median(vals)
    return Latency(unit=board.counter_unit, median=med, min=min(vals), max=max(vals), runs=len(vals),
                   resolution=board.counter_resolution, macs_per_unit=(macs / med) if macs and med else None,
                   ms_at_clock=med / board.clock.hz * 1000.0)
