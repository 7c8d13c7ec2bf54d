"""A fault-injecting serial link: a pty pair in the middle between the host and a board's port.

::

    host (pyserial) <-> /dev/pts/A  ==[FaultProxy]==  /dev/pts/B <-> board (QEMU's -serial pty)

The proxy creates a new pty; the host opens its slave (:attr:`FaultProxy.port`) exactly as it would
open the board. A thread forwards bytes both ways and, per direction, hits a set fraction of the bytes
with a fault chosen among the enabled kinds, using a seeded RNG (the same seed and traffic give the
same faults):

* ``flip``: one random bit of the byte is inverted;
* ``drop``: the byte is not forwarded;
* ``dup``: the byte is forwarded twice.

:attr:`FaultProxy.stats` counts the bytes forwarded and every fault injected, per direction. When the
board side hangs up (the emulator died), the proxy closes its pty, so the host sees the hang-up too.
Used by ``tests/robustness/test_serial_faults.py``.
"""

from __future__ import annotations

import errno
import os
import random
import select
import threading
import tty
from dataclasses import dataclass

KINDS = ("flip", "drop", "dup")
TO_DEVICE, TO_HOST = "to_device", "to_host"


@dataclass(frozen=True)
class Faults:
    """What happens to the bytes of one direction: ``rate`` is the fraction of bytes hit by a fault,
    the kind of each fault is drawn uniformly from ``kinds``."""

    rate: float = 0.0
    kinds: tuple[str, ...] = KINDS

    def __post_init__(self):
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate {self.rate} is not a fraction in 0..1")
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise ValueError(f"fault kinds must be a non-empty subset of {KINDS}, got {self.kinds}")


class _Direction:
    def __init__(self, faults: Faults, rng: random.Random):
        self.faults = faults
        self.rng = rng
        self.pending = bytearray()
        self.stats = {"bytes": 0, "faults": 0, **{k: 0 for k in KINDS}}
        self.enabled = True  # False: forward untouched (e.g. while setting up)

    def mangle(self, data: bytes) -> bytes:
        self.stats["bytes"] += len(data)
        f = self.faults
        if not self.enabled or f.rate <= 0.0:
            return data
        rng, out = self.rng, bytearray()
        for b in data:
            if rng.random() >= f.rate:
                out.append(b)
                continue
            kind = f.kinds[rng.randrange(len(f.kinds))]
            self.stats["faults"] += 1
            self.stats[kind] += 1
            if kind == "flip":
                out.append(b ^ (1 << rng.randrange(8)))
            elif kind == "dup":
                out += bytes((b, b))
            # drop: nothing
        return bytes(out)


class FaultProxy:
    """Forward between a new pty (:attr:`port`, for the host) and ``target`` (the board's port path).

    ``to_device`` / ``to_host``: :class:`Faults` (or a float rate with every kind) for each direction.
    ``seed``: the RNG seed. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, target: str, *, to_device: Faults | float = 0.0, to_host: Faults | float = 0.0,
                 seed: int = 0):
        def norm(f):
            return f if isinstance(f, Faults) else Faults(float(f))

        self.target = target
        self.dirs = {TO_DEVICE: _Direction(norm(to_device), random.Random(f"{seed}/{TO_DEVICE}")),
                     TO_HOST: _Direction(norm(to_host), random.Random(f"{seed}/{TO_HOST}"))}
        self._board = os.open(target, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            tty.setraw(self._board)
            self._master, self._slave = os.openpty()
        except BaseException:
            os.close(self._board)
            raise
        tty.setraw(self._slave)  # our own handle keeps the pty up while the host (re)opens it
        os.set_blocking(self._master, False)
        self.port = os.ttyname(self._slave)
        self.hung_up: str | None = None  # which side went away first, once one did
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"faultproxy {self.port}<->{target}", daemon=True)
        self._thread.start()

    # -- public -------------------------------------------------------------------------------------
    @property
    def stats(self) -> dict:
        with self._lock:
            return {k: dict(d.stats) for k, d in self.dirs.items()}

    def injected(self) -> int:
        """Faults injected so far, both directions."""
        s = self.stats
        return s[TO_DEVICE]["faults"] + s[TO_HOST]["faults"]

    def set_faults(self, *, to_device: Faults | float | None = None, to_host: Faults | float | None = None) -> None:
        with self._lock:
            for key, f in ((TO_DEVICE, to_device), (TO_HOST, to_host)):
                if f is not None:
                    self.dirs[key].faults = f if isinstance(f, Faults) else Faults(float(f))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        if not self._stop:
            self._stop = True
            os.write(self._wake_w, b"x")
        self._thread.join(timeout=5)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._close_ptys()

    def __enter__(self) -> "FaultProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the forwarding thread ----------------------------------------------------------------------------
    def _close_ptys(self) -> None:
        for name in ("_board", "_master", "_slave"):
            fd = getattr(self, name)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, None)

    def _run(self) -> None:
        ends = {TO_DEVICE: (self._master, self._board), TO_HOST: (self._board, self._master)}
        try:
            while not self._stop:
                rlist = [self._wake_r, self._master, self._board]
                wlist = [dst for key, (_, dst) in ends.items() if self.dirs[key].pending]
                r, w, _ = select.select(rlist, wlist, [], 1.0)
                if self._wake_r in r:
                    return
                for key, (src, dst) in ends.items():
                    d = self.dirs[key]
                    if src in r:
                        try:
                            data = os.read(src, 4096)
                        except OSError as e:
                            if e.errno in (errno.EAGAIN, errno.EINTR):
                                continue
                            if src == self._board:  # EIO: the board's pty master is gone
                                self.hung_up = "board"
                                return
                            continue  # EIO on our master: the host closed its end for now
                        if not data:
                            if src == self._board:
                                self.hung_up = "board"
                                return
                            continue
                        with self._lock:
                            d.pending += d.mangle(data)
                    if d.pending and (dst in w or dst not in wlist):
                        try:
                            n = os.write(dst, d.pending)
                            del d.pending[:n]
                        except OSError as e:
                            if e.errno in (errno.EAGAIN, errno.EINTR):
                                continue
                            if dst == self._board:
                                self.hung_up = "board"
                                return
                            d.pending.clear()
        finally:
            if self.hung_up:  # pass the hang-up on: the host's reads fail instead of waiting forever
                self._close_ptys()


__all__ = ["FaultProxy", "Faults", "KINDS", "TO_DEVICE", "TO_HOST"]
