"""The board commands as flows: build, flash (leave running), bench what runs, stop. Each takes the
user's board and port once and works through the target's verbs (see edgeq.targets.base)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edgeq.errors import EdgeqError
from edgeq.flows.generate import read_deployable
from edgeq.targets.bench import Latency, latency, run_device
from edgeq.targets.boards import Board
from edgeq.targets.firmware import BenchBuild, built_elf, read_manifest
from edgeq.targets.protocol import open_device
from edgeq.targets.select import target_for


def build(lib_dir: str | Path, board: str | None, out_dir: str | Path | None = None) -> BenchBuild:
    """Compile the bench firmware around a generated library (``edgeq build``)."""
    return target_for(board).build(lib_dir, out_dir)


def flash(lib_dir: str | Path, board: str | None, out_dir: str | Path | None = None, port: str | None = None) -> str:
    """Build the bench firmware if needed and leave it running on the board (``edgeq flash``); returns
    what the user should know (where it runs, what to do next)."""
    target = target_for(board, port)
    return target.start(built_elf(lib_dir, target.board, out_dir))


def stop(board: str | None) -> bool:
    """End an emulator left running by ``flash``; False when none was."""
    return target_for(board).stop()


@dataclass(frozen=True)
class BenchResult:
    board: Board
    info: object  # the device's HELLO (protocol.DeviceInfo)
    latency: Latency
    stack_used: int | None

    def to_json(self) -> dict:
        return {"board": self.board.name, "model_sha256": self.info.model_sha256.hex(),
                "latency": self.latency.__dict__, "stack_bytes": self.stack_used,
                "arena_bytes": self.info.arena_bytes}


def bench(board: str | None, *, port: str | None = None, model: str | None = None, runs: int = 10,
          timeout: float = 5.0, progress=None) -> BenchResult:
    """Benchmark whatever bench firmware runs on the board (``edgeq bench``); with ``model`` (a .tflite
    or a generated library folder), refuse unless the firmware was built from it."""
    target = target_for(board, port)
    sha = None
    if model:
        m = Path(model)
        sha = (bytes.fromhex(read_manifest(m)["model_sha256"]) if m.is_dir()
               else hashlib.sha256(read_deployable(model)).digest())
    with open_device(target.port(), timeout=timeout, invoke_timeout=300.0) as dev:
        run = run_device(dev, sha256=sha, inputs=[], runs=runs, progress=progress, profile=False,
                         flash_hint=target.bench_hint)
    if not run.counts:
        raise EdgeqError("no latency runs", hint="--runs 1 or more")
    return BenchResult(target.board, run.info, latency(target.board, run.counts, None), run.stack_used)
