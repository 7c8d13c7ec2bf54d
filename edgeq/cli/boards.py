"""`edgeq boards`: kept apart from the other commands so that it starts without NumPy or TensorFlow."""

from __future__ import annotations

from edgeq.report import terminal as report
from edgeq.targets.boards import list_boards


def cmd_boards(a) -> int:
    report.boards_table(list_boards())
    return 0
