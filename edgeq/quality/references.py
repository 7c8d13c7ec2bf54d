"""Reference interpreters: LiteRT with its reference kernels (ground truth) and TFLM (second opinion).

Both interpreters are native code that can abort or crash on a model (a TFLITE_CHECK in an op's Prepare, a
kernel bug): they run in edgeq's worker process (:mod:`edgeq.isolation`). :class:`LiteRT` and :class:`TFLM`
are the handles edgeq uses; ``LiteRTHere`` and ``TFLMHere`` are the interpreters themselves, in the worker.
A crash is reported naming the op: the model is cut after op k (:func:`prefix_model`) and run again, with a
binary search on k for the first op whose prefix crashes (:func:`first_crashing_op`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.preflight import check_references_can_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def captured_output():
    """What C/C++ code prints to file descriptors 1 and 2 while the block runs (the interpreters print from
    C++), in ``box["text"]`` after it. In the worker both already go to its log, which a crash keeps: the
    text is what the block added to it. Elsewhere both are redirected to a temporary file meanwhile."""
    box = {"text": ""}
    log = isolation.worker_log() if isolation.in_worker() else None
    if log is not None:
        sys.stdout.flush()
        start = log.stat().st_size
        try:
            yield box
        finally:
            sys.stdout.flush()
            with open(log, "rb") as f:
                f.seek(start)
                box["text"] = f.read().decode(errors="replace")
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield box
        finally:
            for fd, old in zip((1, 2), saved):
                os.dup2(old, fd)
                os.close(old)
            tmp.seek(0)
            box["text"] = tmp.read().decode(errors="replace")


def litert_module():
    try:
        from ai_edge_litert import interpreter as m  # maintained successor of tflite-runtime
    except ImportError:  # pragma: no cover - fallback for machines with only tflite-runtime
        try:
            from tflite_runtime import interpreter as m
        except ImportError:
            raise EdgeqError("no TFLite interpreter installed (ai-edge-litert or tflite-runtime)",
                             hint="pip install ai-edge-litert") from None
    return m


# Op versions the reference resolver (BUILTIN_REF) does not register although LiteRT's builtin resolver runs
# them with the very kernel the reference resolver has for an older version: (op, version) -> the version to
# load instead. LiteRT 2.3: an int8 TILE is version 3; kernels/tile.cc has one implementation (no reference /
# optimized split), registered for versions 1-3 by BUILTIN and 1-2 by BUILTIN_REF.
# An int8 DEPTH_TO_SPACE is version 2, registered by BUILTIN only; BUILTIN_REF's version 1 is the same
# kernels/depth_to_space.cc Eval (reference_ops::DepthToSpace), whose type switch takes int8.
REF_SAME_KERNEL = {("TILE", 3): 2, ("DEPTH_TO_SPACE", 2): 1}
_MISSING_OP = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")


def with_op_versions(model: bytes, versions: dict[str, int]) -> bytes:
    """``model`` with the version field of the named builtin operator codes lowered to ``versions[op]``."""
    import flatbuffers  # the flatbuffer writer and the schema come with TensorFlow
    from tensorflow.lite.python import schema_py_generated as schema

    codes = {getattr(schema.BuiltinOperator, op): v for op, v in versions.items()}
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    for c in m.operatorCodes:
        code = max(c.builtinCode, c.deprecatedBuiltinCode)
        if code in codes:
            c.version = min(c.version, codes[code])
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


class LiteRTHere:
    """LiteRT interpreter with BUILTIN_REF kernels, in this process (the worker); optionally keeps every
    intermediate tensor.

    An op version the reference resolver lacks but runs with the same kernel under an older version
    (:data:`REF_SAME_KERNEL`) is loaded as that version; any other missing op is named in the error."""

    def __init__(self, model: bytes, preserve_all: bool = False):
        m = litert_module()
        model = bytes(model)
        for _ in range(len(REF_SAME_KERNEL) + 1):
            try:
                self.interp = m.Interpreter(model_content=model,
                                            experimental_op_resolver_type=m.OpResolverType.BUILTIN_REF,
                                            experimental_preserve_all_tensors=preserve_all)
                self.interp.allocate_tensors()
                break
            except (ValueError, RuntimeError) as e:
                text = str(e).strip()
                missing = _MISSING_OP.search(text)
                if missing and (missing[1], int(missing[2])) in REF_SAME_KERNEL:
                    model = with_op_versions(model, {missing[1]: REF_SAME_KERNEL[missing[1], int(missing[2])]})
                    continue
                if missing:
                    raise EdgeqError(f"LiteRT's reference kernels have no {missing[1]} (version {missing[2]}), so "
                                     "this model cannot be checked against them",
                                     detail=["the file is a valid TFLite model: this LiteRT build's reference op "
                                             f"resolver does not register {missing[1]} version {missing[2]}"],
                                     hint="replace the layer that converts to it, or open an issue naming the op"
                                     ) from None
                raise EdgeqError(f"LiteRT cannot load the model: {text.splitlines()[-1]}",
                                 hint="check that the file is a valid TFLite model") from None
        self.inputs = self.interp.get_input_details()
        self.outputs = self.interp.get_output_details()

    def run(self, inputs) -> list[np.ndarray]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        self.interp.reset_all_variables()  # stateless, like the Keras model: RNN state from its reset value
        for d, x in zip(self.inputs, inputs):
            self.interp.set_tensor(d["index"], np.asarray(x, d["dtype"]).reshape(d["shape"]))
        self.interp.invoke()
        return [self.interp.get_tensor(d["index"]).reshape(-1).copy() for d in self.outputs]

    def tensor(self, index: int) -> np.ndarray:
        return self.interp.get_tensor(index)


class LiteRT:
    """LiteRT with its reference kernels (BUILTIN_REF, see :class:`LiteRTHere`), run in the worker.

    ``interp`` is the interpreter (a :class:`edgeq.isolation.Remote`: its methods run in the worker).
    A model whose Prepare would abort the process is refused first (:mod:`edgeq.quality.preflight`); a crash
    all the same is an EdgeqError naming the op (:func:`first_crashing_op`)."""

    name = "litert-ref"
    tool = "LiteRT"
    here = "edgeq.quality.references:LiteRTHere"

    def __init__(self, model: bytes, preserve_all: bool = False):
        self.model = bytes(model)
        check_references_can_run(self.model)
        try:
            self._remote = isolation.create(self.here, self.model, preserve_all,
                                            stage="loading the model into LiteRT's reference kernels", tool=self.tool)
        except isolation.WorkerCrashed as crash:
            raise locate_crash(crash, self.model, None, self) from None
        self.interp = self._remote.attribute("interp")
        self.inputs = self._remote.attribute("inputs")
        self.outputs = self._remote.attribute("outputs")

    def run(self, inputs) -> list[np.ndarray]:
        try:
            return self._remote.invoke("run", inputs, stage=f"a {self.tool} reference run")
        except isolation.WorkerCrashed as crash:
            raise locate_crash(crash, self.model, inputs, self) from None

    def tensor(self, index: int) -> np.ndarray:
        """A tensor after ``run`` (needs ``preserve_all`` for intermediates)."""
        return self._remote.tensor(index)


class TFLMHere:
    """The TFLite Micro interpreter (reference kernels, double rounding), in this process (the worker)."""

    def __init__(self, model: bytes):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise EdgeqError("the tflite-micro Python package is not installed",
                             hint="pip install tflite-micro") from None
        self.model = bytes(model)
        with captured_output():
            self.interp = runtime.Interpreter.from_bytes(self.model, arena_size=max(len(model) * 10, 1 << 20))
        g = read_tflite(self.model)
        self.n_inputs, self.n_outputs = len(g.inputs), len(g.outputs)

    def run(self, inputs) -> list[np.ndarray]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        self.interp.reset()  # stateless, like the Keras model: RNN state from its reset value
        for i, x in enumerate(inputs):
            d = self.interp.get_input_details(i)
            self.interp.set_input(np.asarray(x, d["dtype"]).reshape(d["shape"]), i)
        self.interp.invoke()
        return [np.asarray(self.interp.get_output(i)).reshape(-1).copy() for i in range(self.n_outputs)]

    def arena_bytes(self) -> dict[str, int]:
        with captured_output() as out:
            self.interp.print_allocations()
        text = out["text"]
        return {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}


class TFLM:
    """The TFLite Micro interpreter (:class:`TFLMHere`), run in the worker; a crash names the op."""

    name = "tflm"
    tool = "TFLite Micro"
    here = "edgeq.quality.references:TFLMHere"

    def __init__(self, model: bytes):
        self.model = bytes(model)
        check_references_can_run(self.model)  # its Prepare aborts where LiteRT's does
        try:
            self._remote = isolation.create(self.here, self.model, stage="loading the model into TFLite Micro",
                                            tool=self.tool)
        except isolation.WorkerCrashed as crash:
            raise locate_crash(crash, self.model, None, self) from None
        self.n_inputs = self._remote.attribute("n_inputs")
        self.n_outputs = self._remote.attribute("n_outputs")

    def run(self, inputs) -> list[np.ndarray]:
        try:
            return self._remote.invoke("run", inputs, stage=f"a {self.tool} reference run")
        except isolation.WorkerCrashed as crash:
            raise locate_crash(crash, self.model, inputs, self) from None

    def arena_bytes(self) -> dict[str, int]:
        """TFLM's own arena report: ``total`` (what a firmware must reserve), ``head`` (activations
        and scratch) and ``tail`` (persistent interpreter structures); empty if it did not say."""
        return self._remote.arena_bytes()


# --------------------------------------------------------------------------------------------------
# Which op crashed an interpreter


def prefix_model(model: bytes, last_op: int) -> bytes:
    """``model`` cut after op ``last_op`` (of subgraph 0): ops 0..last_op, whose outputs are those of op
    ``last_op``; the inputs, tensors and buffers are kept as they are."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    sub = m.subgraphs[0]
    sub.operators = sub.operators[: last_op + 1]
    sub.outputs = [int(t) for t in sub.operators[-1].outputs if t >= 0]
    m.signatureDefs = []  # they name the full model's outputs
    b = flatbuffers.Builder(len(model) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _prefix_crashes(kind: type, model: bytes, last_op: int, inputs) -> bool:
    """Whether the interpreter crashes on ``model`` cut after ``last_op`` (loading it, or running ``inputs``)."""
    try:
        cut = prefix_model(model, last_op)
    except Exception:  # noqa: BLE001 - a model the flatbuffer reader cannot take: no op is named
        return False
    try:
        remote = isolation.create(kind.here, cut, stage="finding the op that crashed", tool=kind.tool)
        if inputs is not None:
            remote.run(inputs)
    except isolation.WorkerCrashed as crash:
        isolation.forget_log(crash)  # the first crash's log is the one named to the user
        return True
    except Exception:  # noqa: BLE001 - a prefix the interpreter refuses (an error, not a crash): not this op
        return False
    return False


def first_crashing_op(kind: type, model: bytes, inputs) -> int | None:
    """The first op of ``model`` whose prefix (ops 0..k) crashes ``kind``'s interpreter (:class:`LiteRT` or
    :class:`TFLM`) when loaded or, with ``inputs``, run; None if no prefix does. A binary search: about
    log2(ops) runs, each crash costing a fresh worker."""
    g = read_tflite(model)
    lo, hi = 0, len(g.ops) - 1
    if hi < 0 or not _prefix_crashes(kind, model, hi, inputs):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if _prefix_crashes(kind, model, mid, inputs):
            hi = mid
        else:
            lo = mid + 1
    return lo


def locate_crash(crash: isolation.WorkerCrashed, model: bytes, inputs, ref) -> isolation.WorkerCrashed:
    """``crash`` with the op that caused it named (found by :func:`first_crashing_op`), when one is found."""
    try:
        g = read_tflite(model)
        k = first_crashing_op(type(ref), model, inputs)
    except EdgeqError:
        return crash
    if k is None:
        return crash
    op = g.ops[k]
    out = g.tensor(op.outputs[0]).name if op.outputs else "?"
    return crash.located(f"at op #{k} {op.kind} (output {out!r})")
