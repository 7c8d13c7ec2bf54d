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

from edgeq import isolation
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


class HostLibrary:
    """A compiled ``.so`` of a generated library loaded with ctypes, in this process (edgeq's worker)."""

    _TRACE = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)

    def __init__(self, so_path: str):
        self._dll = ctypes.CDLL(so_path)
        self._dll.edgeq_host_run.restype = ctypes.c_int

    def run(self, data: bytes, out_bytes: int) -> bytes:
        out = ctypes.create_string_buffer(out_bytes)
        rc = self._dll.edgeq_host_run(data, ctypes.c_size_t(len(data)), out, ctypes.c_size_t(out_bytes))
        if rc != 0:
            raise RuntimeError("edgeq_host_run: size mismatch")
        return out.raw

    def reset_state(self) -> None:
        self._dll.edgeq_host_reset_state()

    def trace(self, data: bytes, out_bytes: int, report_ops: bool = False) -> tuple[bytes, dict[int, bytes]]:
        """The outputs and every op's output bytes by op index; ``report_ops`` also reports each op's
        index as it finishes (:func:`edgeq.isolation.report`), so a crash leaves the last one behind."""
        seen: dict[int, bytes] = {}

        def cb(op, ptr, n):
            if report_ops:
                isolation.report(op)
            else:
                seen[op] = ctypes.string_at(ptr, n)

        fn = self._TRACE(cb)
        self._dll.edgeq_host_set_trace(fn)
        try:
            raw = self.run(data, out_bytes)
        finally:
            self._dll.edgeq_host_set_trace(self._TRACE(0))
        return raw, seen


class HostModel:
    """A generated model compiled for the host and loaded (ctypes) into edgeq's worker process
    (:mod:`edgeq.isolation`: a crash of the generated code is an EdgeqError naming the op, never the end
    of edgeq). ``run`` mirrors the interpreter's invoke."""

    tool = "the generated C library"

    def __init__(self, lib: GeneratedLibrary, extra_cflags: tuple[str, ...] = ()):
        self.lib = lib
        self.so_path = compile_shared(lib, extra_cflags)
        self._library = isolation.create("edgeq.targets.host:HostLibrary", str(self.so_path),
                                         stage="loading the generated C library", tool=self.tool)
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
        try:
            raw = self._library.invoke("run", data, self.out_bytes, stage=f"a host run of {self.lib.prefix}")
        except isolation.WorkerCrashed as crash:
            raise self._located(crash, data) from None
        return self._unpack(raw)

    def reset_state(self) -> None:
        """``model_reset_state()``: every state back to zero, as before the first ``run`` (a model with
        state keeps it across ``run`` calls)."""
        self._library.invoke("reset_state", stage=f"resetting the state of {self.lib.prefix}")

    def trace(self, inputs) -> tuple[list[np.ndarray], dict[int, bytes]]:
        """Outputs plus the raw output bytes of every op, keyed by op index."""
        data = self._pack(inputs)
        try:
            raw, seen = self._library.invoke("trace", data, self.out_bytes,
                                             stage=f"a traced host run of {self.lib.prefix}")
        except isolation.WorkerCrashed as crash:
            raise self._located(crash, data) from None
        return self._unpack(raw), seen

    def _located(self, crash: isolation.WorkerCrashed, data: bytes) -> isolation.WorkerCrashed:
        """``crash`` naming the op that was running: the run is repeated in a fresh worker with the per-op
        hook reporting each finished op; the crashed op is the one scheduled after the last reported."""
        try:
            library = isolation.create("edgeq.targets.host:HostLibrary", str(self.so_path),
                                       stage="loading the generated C library", tool=self.tool)
            library.invoke("trace", data, self.out_bytes, True, stage=crash.stage)
        except isolation.WorkerCrashed as again:
            done = again.reports
            isolation.forget_log(again)  # the first crash's log is the one named to the user
        else:
            return crash  # it did not crash again
        ops = self.lib.context["ops"]
        after = [i for i, op in enumerate(ops) if op["index"] == done[-1]] if done else [-1]
        if not after or after[0] + 1 >= len(ops):
            return crash
        op = ops[after[0] + 1]
        return crash.located(f"in op #{op['index']} {op['kind']} ({op['kernel']})")
