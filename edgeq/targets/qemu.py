"""QEMU target: the emulator runs the firmware ELF and exposes the board's UART as a pty, which the host
opens with pyserial exactly like a real board's /dev/ttyACM0. ``QemuTarget`` is the
:class:`~edgeq.targets.base.Target` of every board whose ``[flash] method`` is ``qemu``.

The emulator process is owned: :class:`QemuSession` is a context manager that always ends it (also on
errors and Ctrl-C), and every session still alive when Python exits is ended by an atexit hook.
A *detached* session (for `edgeq flash` followed by a separate `edgeq bench`) is recorded in a state
file so the next command finds its port, and `edgeq stop` ends it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from edgeq.errors import EdgeqError, ToolMissingError
from edgeq.files import write_atomic
from edgeq.targets.base import Target, explained
from edgeq.targets.boards import Board
from edgeq.targets.firmware import BenchBuild, build_bench

_PTY_RE = re.compile(rb"char device redirected to (/dev/pts/\d+)")
_LIVE: "weakref.WeakSet[QemuSession]" = weakref.WeakSet()


def qemu_binary() -> str:
    exe = shutil.which("qemu-system-arm")
    if not exe:
        raise ToolMissingError("qemu-system-arm is not installed; emulated boards need it",
                               hint="apt-get install qemu-system-arm  (or `make deps` as root)")
    return exe


class QemuSession:
    """One running emulator. ``port`` is the pty path of the board's UART (serial0)."""

    def __init__(self, args: list[str], *, board: str = "", startup_timeout: float = 15.0, detached: bool = False,
                 log_path: Path | None = None):
        import tempfile

        self.args = [qemu_binary()] + list(args)
        self.board = board
        self.port: str | None = None
        self.detached = detached
        # QEMU's own output goes to a file, never a pipe: a detached emulator must survive our exit.
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix=f"edgeq-qemu-{board}-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = Path(log_path)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if not detached:
            _LIVE.add(self)
        try:
            self.port = self._wait_for_pty(startup_timeout)
        except BaseException:
            self.close()
            raise

    @property
    def log(self) -> bytes:
        try:
            return self.log_path.read_bytes()
        except OSError:
            return b""

    def _wait_for_pty(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = _PTY_RE.search(self.log)
            if m:
                return m.group(1).decode()
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        rc = self.proc.poll()
        text = self.log.decode(errors="replace").strip().splitlines()[-5:]
        raise EdgeqError(
            f"QEMU ({' '.join(self.args[:3])} ...) {'exited with code ' + str(rc) if rc is not None else 'did not open a serial pty'}"
            f" within {timeout:.0f} s",
            detail=text, hint="check the board's [qemu] section and that the ELF was built for it")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def explain(self, err: EdgeqError) -> EdgeqError:
        """``err`` (a failed exchange with the board) restated when the emulator itself died meanwhile."""
        deadline = time.monotonic() + 1.0  # a pty hang-up can be seen just before the exit status
        while "hung up" in err.what and self.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.alive:
            return err
        rc = self.proc.returncode
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with code {rc}"
        text = self.log.decode(errors="replace").strip().splitlines()[-5:]
        return EdgeqError(f"QEMU running {self.board or 'the board'} {how} during the run ({self.port})",
                          detail=[err.what, *text],
                          hint="out of memory, or killed by someone else? run again; the QEMU log lines are above")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=3)
        if not self.detached:
            self.log_path.unlink(missing_ok=True)
        _LIVE.discard(self)

    def __enter__(self) -> "QemuSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@atexit.register
def _close_all() -> None:  # pragma: no cover - exercised by process exit
    for s in list(_LIVE):
        s.close()


# --- detached sessions (edgeq flash / bench / stop) --------------------------------------------------

def state_dir() -> Path:
    d = Path(os.environ.get("EDGEQ_STATE", Path.home() / ".cache" / "edgeq" / "emulators"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _state_file(board: str) -> Path:
    return state_dir() / f"{board}.json"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_detached(args: list[str], board: str, elf: Path, extra: dict | None = None) -> dict:
    """Start an emulator that outlives this process; record its pid and port for later commands."""
    stop_detached(board)
    s = QemuSession(args, board=board, detached=True, log_path=state_dir() / f"{board}.log")
    state = {"board": board, "pid": s.proc.pid, "port": s.port, "elf": str(elf), **(extra or {})}
    write_atomic(_state_file(board), json.dumps(state).encode())
    return state


def detached_state(board: str) -> dict | None:
    f = _state_file(board)
    if not f.exists():
        return None
    try:
        st = json.loads(f.read_text())
    except (OSError, ValueError):
        f.unlink(missing_ok=True)
        return None
    if not _pid_alive(int(st.get("pid", 0))) or not Path(st.get("port", "/nonexistent")).exists():
        f.unlink(missing_ok=True)
        return None
    return st


def stop_detached(board: str) -> bool:
    st = detached_state(board)
    if st is None:
        return False
    try:
        os.killpg(int(st["pid"]), signal.SIGTERM)
    except ProcessLookupError:
        pass
    for _ in range(30):
        if not _pid_alive(int(st["pid"])):
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(int(st["pid"]), signal.SIGKILL)
        except ProcessLookupError:
            pass
    _state_file(board).unlink(missing_ok=True)
    return True


# --- the Target ----------------------------------------------------------------------------------------

class QemuTarget(Target):
    """An emulated board: ``session`` owns a QEMU process for the block; ``start`` leaves one running
    (recorded in a state file) for ``edgeq bench`` and ``edgeq stop``."""

    emulated = True

    def __init__(self, board: Board, port: str | None = None):
        self.board = board
        self.name = board.name
        self._port = port  # an emulator's pty the user named (edgeq bench --port)

    def build(self, lib_dir: str | Path, out_dir: str | Path | None = None) -> BenchBuild:
        return build_bench(lib_dir, self.board, out_dir)

    @contextlib.contextmanager
    def session(self, elf: Path) -> Iterator[str]:
        with QemuSession(self.board.qemu_args(elf), board=self.name) as s, explained(s) as port:
            yield port

    def start(self, elf: Path) -> str:
        st = start_detached(self.board.qemu_args(elf), self.name, Path(elf))
        return (f"{self.name} is running {elf} in QEMU (pid {st['pid']}); its UART is {st['port']}\n"
                f"next: edgeq bench --board {self.name}    (edgeq stop --board {self.name} ends it)")

    def port(self) -> str:
        if self._port:
            return self._port
        st = detached_state(self.name)
        if st is None:
            raise EdgeqError(f"no port given and no running emulator for {self.name}",
                             hint=f"pass --port, or start one: edgeq flash DIR --board {self.name}")
        return st["port"]

    def stop(self) -> bool:
        return stop_detached(self.name)
