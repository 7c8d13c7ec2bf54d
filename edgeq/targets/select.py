"""Choosing the target: the board file says whether QEMU emulates it or a flash tool writes it."""

from __future__ import annotations

from edgeq.targets.base import Target
from edgeq.targets.boards import Board, load_board
from edgeq.targets.qemu import QemuTarget
from edgeq.targets.serial import SerialTarget


def target_for(board: Board | str | None = None, port: str | None = None) -> Target:
    """The target of ``board`` (a Board, a board name or .toml path, or None for the default board).
    ``port``: the serial port of a real board; on an emulated board it names an already running
    emulator's port for ``port()`` (``edgeq bench --port``)."""
    b = board if isinstance(board, Board) else load_board(board)
    return QemuTarget(b, port) if b.emulated else SerialTarget(b, port)
