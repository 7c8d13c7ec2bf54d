"""Real boards: the firmware is written with the board's flash tool (``[flash] method``: pyocd, openocd,
st-flash) and the host talks to its UART on the serial port the user names."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from edgeq.errors import EdgeqError, ToolMissingError
from edgeq.targets.base import Target
from edgeq.targets.boards import Board, flash_command
from edgeq.targets.firmware import BenchBuild, build_bench


def flash_real(board: Board, elf: Path) -> None:
    cmd = flash_command(board, elf)
    if not shutil.which(cmd[0]):
        others = [t for t in ("pyocd", "openocd", "st-flash") if t != cmd[0] and shutil.which(t)]
        raise ToolMissingError(
            f"flashing {board.name} uses `{cmd[0]}` (flash.method in its board file), which is not installed",
            detail=[f"installed flash tools: {', '.join(others) or 'none'}"],
            hint={"pyocd": "pip install pyocd", "openocd": "apt-get install openocd",
                  "st-flash": "apt-get install stlink-tools"}.get(cmd[0], "install it")
            + "; or change [flash] method in the board file to a tool you have")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgeqError(f"`{' '.join(cmd)}` failed (exit {r.returncode})",
                         detail=(r.stdout + r.stderr).strip().splitlines()[-10:],
                         hint="is the board connected and powered? is another program using the probe?")


class SerialTarget(Target):
    """A physical board on a serial port: ``session`` and ``start`` flash the firmware with the board's
    tool; the firmware keeps running after the command (there is nothing to stop)."""

    emulated = False

    def __init__(self, board: Board, port: str | None = None):
        self.board = board
        self.name = board.name
        self._port = port

    def build(self, lib_dir: str | Path, out_dir: str | Path | None = None) -> BenchBuild:
        return build_bench(lib_dir, self.board, out_dir)

    @contextlib.contextmanager
    def session(self, elf: Path) -> Iterator[str]:
        port = self.port()  # before flashing: a missing --port is the user's first problem
        flash_real(self.board, elf)
        yield port

    def start(self, elf: Path) -> str:
        flash_real(self.board, elf)
        return f"flashed {elf} to {self.name}"

    def port(self) -> str:
        if not self._port:
            raise EdgeqError(f"{self.name} is a real board: which serial port is it on?",
                             hint="pass --port, e.g. --port /dev/ttyACM0")
        return self._port
