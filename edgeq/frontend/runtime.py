"""TensorFlow and Keras, imported quietly (they take seconds and print pages), and their errors cut to one
line. Every other module reaches TensorFlow through :func:`import_tf` / :func:`import_keras`."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from edgeq.errors import EdgeqError


@contextlib.contextmanager
def quiet_tf() -> Iterator[Callable[[], str]]:
    """Silence TensorFlow while the block runs.

    Python warnings and absl/TF loggers below ERROR are dropped, and the process's native stderr
    (file descriptor 2, where the TF/MLIR C++ code writes) goes to a temporary file. Python code that
    writes to ``sys.stderr`` (a progress bar) still reaches the terminal. Yields a function returning
    what the native code wrote so far, for error messages.
    """
    import logging
    import warnings

    sys.stdout.flush()
    sys.stderr.flush()
    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow", "keras")]
    levels = [logger.level for logger in loggers]
    old_stderr = sys.stderr
    swap = _writes_to_fd(old_stderr, 2)
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as log:

        def captured() -> str:
            return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode("utf-8", "replace")

        os.dup2(log.fileno(), 2)
        if swap:
            sys.stderr = open(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        try:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield captured
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            if swap:
                sys.stderr.close()
                sys.stderr = old_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


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
