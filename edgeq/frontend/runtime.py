"""TensorFlow and Keras, imported quietly (they take seconds and print pages), and their errors cut to one
line. Every other module reaches TensorFlow through :func:`import_tf` / :func:`import_keras`."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgeq import isolation
from edgeq.errors import EdgeqError


@contextlib.contextmanager
def quiet_tf() -> Iterator[Callable[[], str]]:
    """Silence TensorFlow while the block runs.

    Python warnings and absl/TF/Keras log records below CRITICAL are dropped, and the process's native stderr
    (file descriptor 2, where the TF/MLIR C++ code writes) goes to a file. Python code that writes to
    ``sys.stderr`` (a progress bar) still reaches the terminal. Yields a function returning what the
    native code wrote so far, for error messages.

    No crash report is lost: in edgeq's worker (:mod:`edgeq.isolation`) fd 2 already is the worker's log,
    kept and named when it crashes, and is left alone; elsewhere fd 2 goes to a named file in the temporary
    folder (``edgeq-native-<pid>-*.log``), removed when the block ends (a crash of this very process leaves
    it behind), and while it does :mod:`faulthandler` writes a fatal signal's report (``Fatal Python error:
    Aborted`` and the Python stack) to the real stderr (:func:`_fault_report_to`).
    """
    import logging
    import warnings

    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow", "keras")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:  # their errors reach the user as edgeq's one message, or not at all
            logger.setLevel(logging.CRITICAL)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            log = isolation.worker_log() if isolation.in_worker() else None
            with (_log_since_now(log) if log is not None else _native_stderr_to_file()) as captured:
                yield captured
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextlib.contextmanager
def _log_since_now(log: Path) -> Iterator[Callable[[], str]]:
    sys.stderr.flush()
    start = log.stat().st_size

    def logged() -> str:
        with open(log, "rb") as f:
            f.seek(start)
            return f.read().decode("utf-8", "replace")

    yield logged


_terminals: dict[tuple[int, int], Any] = {}  # sys.stderr's stand-ins by the file fd 2 is: never closed


def _terminal_stderr(fd: int) -> Any:
    """A text stream on a copy of ``fd`` (the real stderr), the same one for the same file: a logging handler
    created inside a block (absl, Keras) keeps the stream it found, so it must stay open and keep
    reaching the terminal after the block (closing it gave "--- Logging error --- ... I/O operation on
    closed file" tracebacks in later commands, found by tests/tools/fuzz_loaders.py)."""
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    if key not in _terminals:
        _terminals[key] = open(  # noqa: SIM115 - never closed, see above
            os.dup(fd), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    return _terminals[key]


@contextlib.contextmanager
def _native_stderr_to_file() -> Iterator[Callable[[], str]]:
    sys.stdout.flush()
    sys.stderr.flush()
    old_stderr = sys.stderr
    swap = _writes_to_fd(old_stderr, 2)
    saved_fd = os.dup(2)
    with tempfile.NamedTemporaryFile(prefix=f"edgeq-native-{os.getpid()}-", suffix=".log") as log:

        def captured() -> str:
            return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode("utf-8", "replace")

        if swap:
            sys.stderr = _terminal_stderr(saved_fd)
        os.dup2(log.fileno(), 2)
        restore_faults = _fault_report_to(saved_fd)
        try:
            yield captured
        finally:
            restore_faults()
            if swap:
                sys.stderr.flush()
                sys.stderr = old_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


_real_stderr: list[int] = []  # the terminal's fd (a copy) of each open redirection, outermost first


def _fault_report_to(saved_fd: int) -> Callable[[], None]:
    """While fd 2 is a file, send a fatal signal's report (:mod:`faulthandler`: the signal and the Python
    stack of every thread) to the real stderr ``saved_fd`` -- the outermost redirection's, when blocks nest
    -- so a crash of edgeq's own process is never silent. Returns the function restoring the previous state
    (off, or on fd 2 again, where pytest or ``PYTHONFAULTHANDLER`` had it)."""
    was_enabled = faulthandler.is_enabled()
    _real_stderr.append(saved_fd)
    target = _real_stderr[0]
    faulthandler.enable(file=target, all_threads=True)

    def restore() -> None:
        _real_stderr.pop()
        if _real_stderr:
            return  # the outer block's handler (same target) stays
        if was_enabled:
            faulthandler.enable(file=2, all_threads=True)
        else:
            faulthandler.disable()

    return restore


def _writes_to_fd(stream: Any, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def import_tf() -> Any:
    """Import and return ``tensorflow`` quietly, with Keras on the TensorFlow backend."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with quiet_tf():
        import tensorflow as tf
    return tf


def import_keras() -> Any:
    """Import and return ``keras`` (3.x, TensorFlow backend) quietly."""
    import_tf()
    with quiet_tf():
        import keras
    if keras.backend.backend() != "tensorflow":
        raise EdgeqError(
            f"Keras runs on the {keras.backend.backend()!r} backend; edgeq converts models with TensorFlow",
            hint="unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow",
        )
    return keras


def error_line(error: BaseException, *, last: bool = False, limit: int = 300) -> str:
    """One non-empty line of an exception's message (library messages run to pages), at most ``limit`` chars."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = (lines[-1] if last else lines[0]) if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."
