"""Host target: the generated library compiled with the native gcc into a shared object and called
through ctypes, so a generated model is as easy to run from Python as the interpreter."""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgeq.codegen.emit import GeneratedLibrary
from edgeq.codegen.templates import template_env
from edgeq.errors import EdgeqError, ToolMissingError
from edgeq.files import cache_dir

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fPIC"]
_NP = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "float32": np.float32,
       "int64": np.int64, "bool": np.bool_}


def host_cc() -> str:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise ToolMissingError("no host C compiler (gcc or cc) on PATH",
                               hint="apt-get install gcc  (or set CC)")
    return cc


def compile_shared(lib: GeneratedLibrary, extra_cflags: tuple[str, ...] = ()) -> Path:
    """Build (or reuse from the cache) ``model.so`` for ``lib``; returns its path."""
    env = template_env()
    ctx = lib.context
    shim = env.get_template("host_shim.c.j2").render(**ctx)
    hooks = env.get_template("host_hooks.h.j2").render(**ctx)
    flags = CFLAGS + list(extra_cflags)
    key = hashlib.sha256((lib.digest + shim + hooks + " ".join(flags)).encode()).hexdigest()[:24]
    out = cache_dir() / "host" / key
    so = out / f"{lib.prefix}.so"
    if so.exists():
        return so
    tmp = out.with_name(key + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "shim.c").write_text(shim)
    (tmp / "hooks.h").write_text(hooks)
    srcs = [str(lib.dir / s) for s in ctx["sources"]]
    cmd = [host_cc(), *flags, "-shared", "-include", str(tmp / "hooks.h"), f"-I{lib.dir}",
           "-o", str(tmp / so.name), str(tmp / "shim.c"), *srcs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise EdgeqError("the generated C library failed to compile on the host",
                         detail=r.stderr.strip().splitlines()[:30],
                         hint="this is a bug in edgeq: please report it with the model")
    try:  # a cache entry, first one in wins (not an output: see edgeq.files for those)
        tmp.rename(out)
    except OSError:  # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return so


class HostModel:
    """A generated model loaded into this process. ``run`` mirrors the interpreter's invoke."""

    _TRACE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)

    def __init__(self, lib: GeneratedLibrary, extra_cflags: tuple[str, ...] = ()):
        self.lib = lib
        self.so_path = compile_shared(lib, extra_cflags)
        self._dll = ctypes.CDLL(str(self.so_path))
        self._dll.edgeq_host_run.restype = ctypes.c_int
        self.inputs = lib.context["inputs"]
        self.outputs = lib.context["outputs"]
        self.in_bytes = sum(t["bytes"] for t in self.inputs)
        self.out_bytes = sum(t["bytes"] for t in self.outputs)
        # a library loaded twice in one process is one copy (dlopen): start from the reset state
        self.reset_state()

    def _pack(self, inputs) -> bytes:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if len(inputs) != len(self.inputs):
            raise ValueError(f"model takes {len(self.inputs)} inputs, got {len(inputs)}")
        parts = []
        for x, t in zip(inputs, self.inputs):
            a = np.ascontiguousarray(x, dtype=_NP[t["dtype"]])
            if a.nbytes != t["bytes"]:
                raise ValueError(f"input {t['index']} needs {t['bytes']} bytes, got {a.nbytes}")
            parts.append(a.tobytes())
        return b"".join(parts)

    def _unpack(self, raw: bytes) -> list[np.ndarray]:
        res, off = [], 0
        for t in self.outputs:
            res.append(np.frombuffer(raw[off : off + t["bytes"]], dtype=_NP[t["dtype"]]).copy())
            off += t["bytes"]
        return res

    def run(self, inputs) -> list[np.ndarray]:
        """Outputs (flat arrays) for one sample: a list with one array per model input."""
        data = self._pack(inputs)
        out = ctypes.create_string_buffer(self.out_bytes)
        rc = self._dll.edgeq_host_run(data, ctypes.c_size_t(len(data)), out, ctypes.c_size_t(self.out_bytes))
        if rc != 0:
            raise RuntimeError("edgeq_host_run: size mismatch")
        return self._unpack(out.raw)

    def reset_state(self) -> None:
        """``model_reset_state()``: every state back to zero, as before the first ``run`` (a model with
        state keeps it across ``run`` calls)."""
        self._dll.edgeq_host_reset_state()

    def trace(self, inputs) -> tuple[list[np.ndarray], dict[int, bytes]]:
        """Outputs plus the raw output bytes of every op, keyed by op index."""
        seen: dict[int, bytes] = {}

        def cb(op, ptr, n):
            seen[op] = ctypes.string_at(ptr, n)

        fn = self._TRACE(cb)
        self._dll.edgeq_host_set_trace(fn)
        try:
            outs = self.run(inputs)
        finally:
            self._dll.edgeq_host_set_trace(self._TRACE(0))
        return outs, seen
