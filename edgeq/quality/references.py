"""Reference interpreters: LiteRT with its reference kernels (ground truth) and TFLM (second opinion)."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.preflight import check_references_can_run

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _captured_fd(fd: int):
    """Capture what C/C++ code writes to a file descriptor (the interpreters print from C++)."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(fd)
        os.dup2(tmp.fileno(), fd)
        box = {"text": ""}
        try:
            yield box
        finally:
            os.dup2(saved, fd)
            os.close(saved)
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
REF_SAME_KERNEL = {("TILE", 3): 2}
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


class LiteRT:
    """LiteRT interpreter with BUILTIN_REF kernels; optionally keeps every intermediate tensor.

    An op version the reference resolver lacks but runs with the same kernel under an older version
    (:data:`REF_SAME_KERNEL`) is loaded as that version; any other missing op is named in the error. A model
    whose Prepare would abort the process is refused first (:mod:`edgeq.quality.preflight`)."""

    name = "litert-ref"

    def __init__(self, model: bytes, preserve_all: bool = False):
        m = litert_module()
        model = bytes(model)
        check_references_can_run(model)
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
        """A tensor after ``run`` (needs ``preserve_all`` for intermediates)."""
        return self.interp.get_tensor(index)


class TFLM:
    """The TFLite Micro interpreter (reference kernels, double rounding)."""

    name = "tflm"

    def __init__(self, model: bytes):
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise EdgeqError("the tflite-micro Python package is not installed",
                             hint="pip install tflite-micro") from None
        self.model = bytes(model)
        check_references_can_run(self.model)  # its Prepare aborts where LiteRT's does
        with _captured_fd(1), _captured_fd(2):
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
        """TFLM's own arena report: ``total`` (what a firmware must reserve), ``head`` (activations
        and scratch) and ``tail`` (persistent interpreter structures); empty if it did not say."""
        with _captured_fd(1) as out, _captured_fd(2) as err:
            self.interp.print_allocations()
        text = out["text"] + err["text"]
        return {k: int(v) for k, v in re.findall(r"Arena allocation (total|head|tail) (\d+) bytes", text)}
