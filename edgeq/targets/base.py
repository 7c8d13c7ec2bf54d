"""The one interface to every place a bench firmware runs: build, flash (start), open -> serial port.

A :class:`Target` is chosen once, from the board (and port) the user named, by
:func:`edgeq.targets.select.target_for`; flows and commands then only call its verbs:

* ``build(lib_dir)``: compile the bench firmware around a generated library (-> BenchBuild);
* ``session(elf)``: run the firmware for the duration of a ``with`` block, yielding the serial port
  (an owned QEMU pty, the real board's port after flashing, a host process's pty);
* ``start(elf)`` / ``port()`` / ``stop()``: leave the firmware running for later commands
  (``edgeq flash``, then ``edgeq bench``, then ``edgeq stop``).

Talking to the running firmware is the same for every target: :func:`edgeq.targets.protocol.open_device`
on the port. That mirrors microTVM's project API (a handful of verbs, boards as data), without a server.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

from edgeq.errors import EdgeqError


class Target(ABC):
    """Where a bench firmware runs. ``name`` names it in messages; ``emulated``: no hardware involved."""

    name: str
    emulated: bool

    @abstractmethod
    def build(self, lib_dir: str | Path, out_dir: str | Path | None = None):
        """Compile the bench firmware around the generated library ``lib_dir`` (-> BenchBuild)."""

    @abstractmethod
    def session(self, elf: Path) -> contextlib.AbstractContextManager[str]:
        """Run ``elf`` for the duration of the block; yields the serial port to talk to. Whatever was
        started is ended when the block exits (also on errors and Ctrl-C)."""

    @abstractmethod
    def start(self, elf: Path) -> str:
        """Flash or start ``elf`` and leave it running for later commands; returns a line for the user."""

    @abstractmethod
    def port(self) -> str:
        """The serial port of the firmware running now (started by ``start``, or the port given)."""

    def stop(self) -> bool:
        """End what ``start`` left running; False when nothing was (real boards keep running)."""
        return False

    @property
    def bench_hint(self) -> str:
        """How the user gets a firmware running on this target (for 'no firmware' messages)."""
        return f"edgeq flash DIR --board {self.name}"


@contextlib.contextmanager
def explained(session) -> Iterator[str]:
    """Yield ``session.port``; an EdgeqError raised in the block is restated by ``session.explain`` (e.g.
    "the port hung up" -> "QEMU was killed by signal 9")."""
    try:
        yield session.port
    except EdgeqError as e:
        raise session.explain(e) from None
