"""Native code that can take the process down runs in a worker subprocess.

The TFLite converter, LiteRT, the TFLite Micro interpreter, Keras/h5py loading a user's file and the
ctypes-loaded generated C are native code: a segfault or an ``abort()`` there would end edgeq without a
word. Every such call goes through this module instead:

* :func:`call` runs ``"module:function"`` with picklable arguments in the worker and returns its
  picklable result (NumPy arrays included);
* :func:`create` builds an object there (an interpreter, a loaded ``.so``) and returns a :class:`Remote`
  whose methods run there (one round trip per call, about 0.1 ms);
* inside the worker, :func:`report` sends a value back at once (progress, the op a trace reached), which
  the caller's ``on_report`` receives while the call runs: the last report survives a crash.

One worker is started lazily and reused by every call of the command (the imports it did are kept: TensorFlow,
LiteRT). Its stdout and stderr go to a log file, which ``--verbose`` (:func:`set_verbose`) copies to edgeq's
stderr after each call and which is kept, and named, when the worker crashes. A Python exception raised in
the worker is raised again in the caller as the same type with the same attributes (an EdgeqError stays
that EdgeqError). A crash (a signal, an abnormal exit) becomes :class:`WorkerCrashed`, an EdgeqError naming
the stage, the tool and, where the caller can tell, the layer or op; a call running longer than its timeout
is stopped (the worker is killed) and becomes :class:`WorkerTimeout`. After either, the next call starts a
fresh worker.

``EDGEQ_ISOLATION=inprocess`` runs every call in this process instead (no crash protection): the test
suite uses it for speed, and ``tests/cli/test_isolation.py`` runs the real worker (see
:func:`isolation_mode`). ``python -m edgeq.isolation RFD WFD`` is the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError

DEFAULT_TIMEOUT = 3600.0  # seconds for one call unless the call site says; EDGEQ_WORKER_TIMEOUT overrides both
_HEADER = struct.Struct("<Q")
_verbose = False
_worker: _Worker | None = None
_in_worker: _Channel | None = None  # set in the worker process
_local_reports: list[Callable[[Any], None]] = []  # in-process mode: the running calls' on_report


class WorkerCrashed(EdgeqError):
    """The worker died during a call (a signal or an abnormal exit): ``stage``, ``tool``, ``how`` (the
    signal's name or the exit status), the worker's ``log`` file (kept), the values it ``reports``-ed before
    dying and the ``tail`` of its output."""

    def __init__(self, what: str, *, stage: str, tool: str, how: str, log: Path | None,
                 reports: list[Any], tail: list[str], hint: str | None = None,
                 detail: list[str] | tuple[str, ...] = ()):
        super().__init__(what, hint=hint, detail=detail)
        self.stage, self.tool, self.how, self.log = stage, tool, how, log
        self.reports, self.tail = reports, tail

    def located(self, where: str) -> WorkerCrashed:
        """The same crash with ``where`` (the layer or op involved) in its message."""
        return crash_error(self.stage, self.tool, self.how, self.log, self.reports, self.tail, where)


class WorkerTimeout(EdgeqError):
    """A call ran longer than its timeout; the worker was stopped."""


def set_verbose(on: bool) -> None:
    """Copy what the worker writes (its stderr and stdout) to edgeq's stderr after each call."""
    global _verbose
    _verbose = on


def isolation_mode() -> str:
    """``"process"`` (the default: calls run in the worker) or ``"inprocess"`` (``EDGEQ_ISOLATION``, and
    always inside the worker itself)."""
    if _in_worker is not None or os.environ.get("EDGEQ_WORKER"):
        return "inprocess"
    mode = os.environ.get("EDGEQ_ISOLATION", "process")
    if mode not in ("process", "inprocess"):
        raise EdgeqError(f"EDGEQ_ISOLATION={mode!r} is not 'process' or 'inprocess'",
                         hint="unset EDGEQ_ISOLATION (native code then runs in a worker process)")
    return mode


def in_worker() -> bool:
    """Whether this process is the worker."""
    return _in_worker is not None


def worker_log() -> Path | None:
    """The worker's log file (inside the worker: its own; in edgeq: the running worker's), if any."""
    if _in_worker is not None:
        return _in_worker.log
    return _worker.log if _worker is not None else None


def report(value: Any) -> None:
    """Inside a call: hand ``value`` to the caller's ``on_report`` now (from the worker, over the pipe).

    Calls nest (a call running in-process, or inside the worker, makes another): the innermost running
    call's ``on_report`` gets ``value``, and what that one reports goes to the call around it."""
    if _local_reports:
        handler = _local_reports.pop()
        try:
            handler(value)
        finally:
            _local_reports.append(handler)
    elif _in_worker is not None:
        _in_worker.send(("report", value))


def call(target: str, *args: Any, stage: str, tool: str, timeout: float | None = None,
         on_report: Callable[[Any], None] | None = None, **kwargs: Any) -> Any:
    """``target(*args, **kwargs)`` in the worker (``target`` is ``"package.module:function"``).

    ``stage`` (what edgeq was doing: "int8 quantization", "the LiteRT reference run") and ``tool`` ("the
    TFLite converter", "LiteRT") name a crash. Raises what the function raised, :class:`WorkerCrashed` or
    :class:`WorkerTimeout`.
    """
    return _request(("call", target, args, kwargs), stage, tool, timeout, on_report)


def probe(target: str, *args: Any, stage: str, tool: str, timeout: float | None = None, **kwargs: Any) -> None:
    """Run ``target`` in the worker only to learn that the native code survives it (loading a user's file
    there before edgeq loads it too): its errors and crashes are raised, its result is dropped. Nothing
    is run in-process mode (it would protect nothing)."""
    if isolation_mode() == "process":
        call(target, *args, stage=stage, tool=tool, timeout=timeout, **kwargs)


def create(target: str, *args: Any, stage: str, tool: str, timeout: float | None = None, **kwargs: Any) -> Remote:
    """``target(*args, **kwargs)`` (a class or factory) kept in the worker; a :class:`Remote` to it."""
    if isolation_mode() == "inprocess":
        return Remote(_resolve(target)(*args, **kwargs), None, stage, tool)
    worker = _get_worker()
    handle = worker.request(("new", target, args, kwargs), stage, tool, _timeout(timeout), None)
    return Remote(handle, worker, stage, tool)


class Remote:
    """An object living in the worker. ``remote.name(*args)`` calls its method there; :meth:`attribute`
    reads an attribute (another Remote if it is not plain data); :meth:`invoke` takes the call's options."""

    def __init__(self, handle: Any, worker: _Worker | None, stage: str, tool: str):
        self._handle, self._worker, self._stage, self._tool = handle, worker, stage, tool

    def invoke(self, method: str, *args: Any, stage: str | None = None, timeout: float | None = None,
               on_report: Callable[[Any], None] | None = None, **kwargs: Any) -> Any:
        stage = stage or self._stage
        if self._worker is None:
            _local_reports.append(on_report or (lambda value: None))
            try:
                return getattr(self._handle, method)(*args, **kwargs)
            finally:
                _local_reports.pop()
        self._check_alive()
        return self._worker.request(("method", self._handle, method, args, kwargs), stage, self._tool,
                                    _timeout(timeout), on_report)

    def attribute(self, name: str) -> Any:
        """The object's attribute ``name``: plain data as a value, any other object as a Remote."""
        if self._worker is None:
            return getattr(self._handle, name)
        self._check_alive()
        kind, value = self._worker.request(("attr", self._handle, name), self._stage, self._tool,
                                           _timeout(None), None)
        return Remote(value, self._worker, self._stage, self._tool) if kind == "remote" else value

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self.invoke(name, *args, **kwargs)

    def _check_alive(self) -> None:
        assert self._worker is not None
        if self._worker is not _worker or self._worker.proc is None:
            raise EdgeqError(f"{self._tool} was lost with the worker process that held it (it crashed or was "
                             "stopped earlier)", hint="run the command again")

    def __del__(self) -> None:
        worker = self.__dict__.get("_worker")
        if worker is not None and worker is _worker and worker.proc is not None:
            worker.freed.append(self._handle)  # released with the next request


def shutdown(*, kill: bool = False) -> None:
    """Stop the worker (end of the command; ``kill``: without waiting for its call to end, after Ctrl-C).
    Its log is removed; a crashed worker's log was kept and named in the error."""
    global _worker
    if _worker is not None:
        _worker.stop(remove_log=True, kill=kill)
        _worker = None


def forget_log(crash: WorkerCrashed) -> None:
    """Remove a crashed worker's log (a crash edgeq caused on purpose to locate another one)."""
    if crash.log is not None:
        with contextlib.suppress(OSError):
            crash.log.unlink()


def crash_error(stage: str, tool: str, how: str, log: Path | None, reports: list[Any], tail: list[str],
                where: str = "") -> WorkerCrashed:
    """The EdgeqError for a worker that died: one line naming stage, tool, ``how`` and ``where``."""
    where = f" {where}" if where else ""
    kept = f"; its output is kept in {log}" if log is not None else ""
    return WorkerCrashed(
        f"{tool} crashed ({how}) during {stage}{where}",
        stage=stage, tool=tool, how=how, log=log, reports=reports, tail=tail,
        detail=[f"{tool}'s last output: {tail[-1]}"] if tail else [],
        hint=f"edgeq's own process is unharmed and wrote nothing; run with --verbose to see {tool}'s output"
             f"{kept}; report the model and this message",
    )


# --------------------------------------------------------------------------------------------------
# The edgeq side


def _timeout(timeout: float | None) -> float:
    """The call's limit: EDGEQ_WORKER_TIMEOUT if set (the user's word wins), else the call site's, else
    :data:`DEFAULT_TIMEOUT`."""
    if os.environ.get("EDGEQ_WORKER_TIMEOUT"):
        try:
            return float(os.environ["EDGEQ_WORKER_TIMEOUT"])
        except ValueError:
            raise EdgeqError(f"EDGEQ_WORKER_TIMEOUT={os.environ['EDGEQ_WORKER_TIMEOUT']!r} is not a number of "
                             "seconds", hint="set it to a number, for example EDGEQ_WORKER_TIMEOUT=600") from None
    return timeout if timeout is not None else DEFAULT_TIMEOUT


def _request(message: tuple, stage: str, tool: str, timeout: float | None,
              on_report: Callable[[Any], None] | None) -> Any:
    if isolation_mode() == "inprocess":
        _, target, args, kwargs = message
        _local_reports.append(on_report or (lambda value: None))
        try:
            return _resolve(target)(*args, **kwargs)
        finally:
            _local_reports.pop()
    return _get_worker().request(message, stage, tool, _timeout(timeout), on_report)


def _get_worker() -> _Worker:
    global _worker
    if _worker is None:
        if not atexit_registered:
            atexit.register(shutdown)
            atexit_registered.append(True)
        _worker = _Worker()
    return _worker


atexit_registered: list[bool] = []


def _resolve(target: str) -> Any:
    module, _, name = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """``n`` bytes from ``fd``; None at end of file. Raises TimeoutError past ``deadline``."""
    chunks, left = [], n
    while left:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], min(wait, 1.0))
            if not ready:
                continue
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(fd: int, deadline: float | None = None) -> Any:
    head = _read_exact(fd, _HEADER.size, deadline)
    if head is None:
        raise EOFError
    body = _read_exact(fd, _HEADER.unpack(head)[0], deadline)
    if body is None:
        raise EOFError
    return pickle.loads(body)


class _Worker:
    """The worker process, its two pipes and its log file."""

    def __init__(self) -> None:
        to_child, self._wfd = os.pipe()
        self._rfd, from_child = os.pipe()
        fd, name = tempfile.mkstemp(prefix="edgeq-worker-", suffix=".log")
        self.log = Path(name)
        self._shown = 0
        self.freed: list[Any] = []
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env["EDGEQ_WORKER"] = "1"  # a worker never starts a worker of its own
        env["PYTHONFAULTHANDLER"] = "1"  # a Python stack of the crash in the log
        started = time.monotonic()
        self.proc: subprocess.Popen | None = subprocess.Popen(
            [sys.executable, "-m", "edgeq.isolation", str(to_child), str(from_child), str(self.log)],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, pass_fds=(to_child, from_child), env=env,
            start_new_session=True)  # Ctrl-C reaches edgeq, which stops the worker
        os.close(fd)
        os.close(to_child)
        os.close(from_child)
        self.start_seconds = time.monotonic() - started

    def request(self, message: tuple, stage: str, tool: str, timeout: float,
                on_report: Callable[[Any], None] | None) -> Any:
        assert self.proc is not None
        if self.freed:
            handles, self.freed = self.freed, []
            message = ("batch", handles, message)
        reports: list[Any] = []
        try:
            try:
                _send(self._wfd, message)
            except BrokenPipeError:
                raise EOFError from None
            deadline = time.monotonic() + timeout
            while True:
                kind, value = _recv(self._rfd, deadline)
                if kind == "report":
                    reports.append(value)
                    if on_report is not None:
                        on_report(value)
                    continue
                break
        except EOFError:
            raise self._died(stage, tool, reports) from None
        except TimeoutError:
            self.show()
            self.stop(remove_log=True, kill=True)
            raise WorkerTimeout(f"{tool} did not finish {stage} within {timeout:g} s and was stopped",
                                hint="nothing was written; a damaged input file can make a tool loop forever "
                                     "(check the file), or raise the limit with EDGEQ_WORKER_TIMEOUT=SECONDS if "
                                     "the model is that slow to process") from None
        except BaseException:  # Ctrl-C, or an on_report that raised: the reply would be read by the next call
            self.stop(remove_log=True, kill=True)
            raise
        finally:
            self.show()
        if kind == "ok":
            return value
        raise _rebuild_exception(value)

    def _died(self, stage: str, tool: str, reports: list[Any]) -> WorkerCrashed:
        assert self.proc is not None
        try:
            code = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # the pipe closed but the process lingers
            self.proc.kill()
            code = self.proc.wait()
        how = (signal.Signals(-code).name if code < 0 and -code in signal.Signals._value2member_map_
               else f"exit status {code}")
        self.show()
        tail = tool_tail(self.log)
        self.stop(remove_log=False)
        return crash_error(stage, tool, how, self.log, reports, tail)

    def show(self) -> None:
        """With --verbose: copy what the worker wrote since the last call to stderr."""
        if not _verbose:
            return
        try:
            with open(self.log, "rb") as f:
                f.seek(self._shown)
                text = f.read()
        except OSError:
            return
        self._shown += len(text)
        for line in text.decode("utf-8", "replace").splitlines():
            print(f"worker: {line}", file=sys.stderr)

    def stop(self, *, remove_log: bool, kill: bool = False) -> None:
        """End the worker; a worker stopped after a crash or timeout (``remove_log`` False) is forgotten
        at once, so the next call starts a fresh one, and its log stays."""
        global _worker
        if _worker is self:
            _worker = None
        proc, self.proc = self.proc, None
        for fd in (self._wfd, self._rfd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if proc is not None and proc.poll() is None:
            if kill:
                proc.kill()
            try:
                proc.wait(timeout=5)  # it exits at the end of its request pipe
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if remove_log:
            with contextlib.suppress(OSError):
                self.log.unlink()


def tool_tail(log: Path | None, lines: int = 3) -> list[str]:
    """The last lines a tool wrote to the worker's log before it died (Python's fault handler stack left out)."""
    if log is None:
        return []
    try:
        text = log.read_text("utf-8", "replace")
    except OSError:
        return []
    keep = []
    for line in text.splitlines():
        if line.startswith(("Fatal Python error", "Current thread", "Thread 0x", "Extension modules:", "  File ",
                            "Stack (most recent")) or not line.strip():
            continue
        keep.append(line.strip())
    return keep[-lines:]


def _rebuild_exception(value: tuple) -> BaseException:
    """The exception the worker raised, as the same type with the same attributes."""
    module, qualname, args, state, text = value
    try:
        cls = _resolve(f"{module}:{qualname}")
        error = cls.__new__(cls)
        error.args = args
        error.__dict__.update(state)
        return error
    except Exception:  # a type that does not rebuild: its message, as a RuntimeError
        return RuntimeError(text)


# --------------------------------------------------------------------------------------------------
# The worker side


class _Channel:
    def __init__(self, rfd: int, wfd: int, log: Path):
        self.rfd, self.wfd, self.log = rfd, wfd, log

    def send(self, message: tuple) -> None:
        _send(self.wfd, message)


def _exception_value(error: BaseException) -> tuple:
    text = "".join(traceback.format_exception(error))
    cls = type(error)
    state = {k: v for k, v in getattr(error, "__dict__", {}).items()}
    try:
        pickle.dumps((error.args, state))
    except Exception:
        return ("builtins", "RuntimeError", (f"{cls.__name__}: {error}",), {}, text)
    return (cls.__module__, cls.__qualname__, error.args, state, text)


def _serve(rfd: int, wfd: int, log: Path) -> int:
    global _in_worker
    _in_worker = channel = _Channel(rfd, wfd, log)
    objects: dict[int, Any] = {}
    next_handle = 0
    while True:
        try:
            message = _recv(rfd)
        except EOFError:
            return 0
        if message[0] == "batch":
            for handle in message[1]:
                objects.pop(handle, None)
            message = message[2]
        try:
            kind = message[0]
            if kind == "call":
                result = _resolve(message[1])(*message[2], **message[3])
            elif kind == "new":
                next_handle += 1
                objects[next_handle] = _resolve(message[1])(*message[2], **message[3])
                result = next_handle
            elif kind == "method":
                result = getattr(objects[message[1]], message[2])(*message[3], **message[4])
            elif kind == "attr":
                value = getattr(objects[message[1]], message[2])
                try:
                    pickle.dumps(value)
                    result = ("value", value)
                except Exception:
                    next_handle += 1
                    objects[next_handle] = value
                    result = ("remote", next_handle)
            else:
                raise ValueError(f"unknown worker request {kind!r}")
            reply = ("ok", result)
        except BaseException as error:  # noqa: BLE001 - every exception goes back to the caller
            if isinstance(error, (SystemExit, KeyboardInterrupt)) and not isinstance(error, Exception):
                reply = ("raise", _exception_value(RuntimeError(f"the worker was stopped: {error!r}")))
            else:
                reply = ("raise", _exception_value(error))
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            channel.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            channel.send(("raise", _exception_value(RuntimeError(f"the worker's result cannot be sent: {error}"))))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # edgeq handles Ctrl-C and stops the worker
    from edgeq import isolation  # the module the worker's calls see (this one runs as __main__)

    sys.exit(isolation._serve(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])))
