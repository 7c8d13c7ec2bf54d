"""The one way edgeq puts files in place: all or nothing.

Every output (a .tflite, a JSON or HTML report, a generated library folder, a firmware folder) is
written beside its destination under a temporary name and renamed into place only once complete, so a
failure or Ctrl-C half-way never leaves a half-written file or folder, and a previous output stays as
it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from edgeq.errors import EdgeqError


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename: never a half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return p


@contextlib.contextmanager
def atomic_dir(out_dir: Path | str) -> Iterator[Path]:
    """Build a folder in a temporary sibling and put it in place only when the block succeeds.

    Yields the temporary folder (``.NAME.tmp-edgeq-PID`` beside ``out_dir``). On success an existing
    ``out_dir`` is replaced by it; on any error (compile error, does not fit, Ctrl-C) the temporary folder
    is removed and a previous ``out_dir`` is left exactly as it was.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise EdgeqError(f"{out} exists and is not a directory", hint="choose another output path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-edgeq-{os.getpid()}"
    old = out.parent / f".{out.name}.old-edgeq-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)
        raise


def cache_dir() -> Path:
    """edgeq's build cache (host libraries, kernel code sizes), keyed by content hash inside:
    ``$EDGEQ_CACHE`` or ~/.cache/edgeq."""
    d = Path(os.environ.get("EDGEQ_CACHE", Path.home() / ".cache" / "edgeq"))
    d.mkdir(parents=True, exist_ok=True)
    return d
