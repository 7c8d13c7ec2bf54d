"""edgeq's op coverage beside TensorFlow Lite Micro's (``edgeq ops``).

Which builtins TFLM registers is asked of the installed ``tflite-micro`` package itself, not written down:
for every builtin operator of its own schema, a two-op model is loaded in its Python interpreter (the
interpreter edgeq's TFLM reference uses, with its op resolver): op 0 is the builtin asked about, op 1 a
custom op no resolver has. The interpreter looks the ops' registrations up in order before it initializes
or prepares any of them, so it stops either at op 0 ("Didn't find op for builtin opcode": not registered)
or at op 1 (the builtin was found), and no kernel ever runs on the empty probe tensors. A reply that says
neither is an error, not a guess. The whole probe takes well under a second.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.quality.references import captured_output

_PROBE_CUSTOM = "EDGEQ_PROBE_NO_SUCH_OP"
_NOT_FOUND = "Didn't find op for builtin opcode"


def _probe_model(schema, code: int) -> bytes:
    """A model whose op 0 is builtin ``code`` and op 1 the custom op no resolver registers."""
    import flatbuffers

    S = schema
    asked, custom = S.OperatorCodeT(), S.OperatorCodeT()
    asked.builtinCode, asked.deprecatedBuiltinCode, asked.version = code, min(code, 127), 1
    custom.builtinCode, custom.deprecatedBuiltinCode = S.BuiltinOperator.CUSTOM, S.BuiltinOperator.CUSTOM
    custom.customCode, custom.version = _PROBE_CUSTOM, 1
    t = S.TensorT()
    t.shape, t.type, t.buffer, t.name = [1], S.TensorType.FLOAT32, 0, "x"
    ops = []
    for index in (0, 1):
        op = S.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = index, [], []
        ops.append(op)
    if code == S.BuiltinOperator.VAR_HANDLE:  # the Python wrapper counts resource variables from its options
        ops[0].builtinOptionsType = S.BuiltinOptions.VarHandleOptions
        ops[0].builtinOptions = S.VarHandleOptionsT()
        ops[0].builtinOptions.sharedName = "probe"
    sg = S.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = [t], [0], [0], ops
    m = S.ModelT()
    m.version, m.operatorCodes, m.subgraphs, m.buffers = 3, [asked, custom], [sg], [S.BufferT()]
    b = flatbuffers.Builder(256)
    b.Finish(m.Pack(b), b"TFL3")
    return bytes(b.Output())


@functools.cache
def tflm_builtins() -> tuple[str, ...]:
    """The builtin operators the installed tflite-micro Python interpreter registers, sorted by name (probed in
    the isolation worker: a probe that took the process down would be reported, not suffered)."""
    return isolation.call("edgeq.quality.op_coverage:tflm_builtins_here", stage="reading TFLite Micro's op list",
                          tool="TFLite Micro")


def tflm_builtins_here() -> tuple[str, ...]:
    """:func:`tflm_builtins`, in this process."""
    try:
        from tflite_micro.python.tflite_micro import runtime
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    except ImportError:
        raise EdgeqError("the tflite-micro Python package is not installed", hint="pip install tflite-micro") from None
    builtins = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_") and k != "CUSTOM"}
    registered = []
    for code, name in builtins.items():
        with captured_output() as out:
            try:
                runtime.Interpreter.from_bytes(_probe_model(schema, code), arena_size=1 << 14)
            except RuntimeError:
                pass  # expected: it stops at op 0 or op 1, and says which
        said = out["text"]
        if _NOT_FOUND in said:
            continue
        if "CUSTOM" in said or _PROBE_CUSTOM in said:
            registered.append(name)
            continue
        raise EdgeqError(f"could not tell whether TFLite Micro registers {name}",
                         detail=[f"its interpreter said: {said.strip()[:300] or '(nothing)'}"],
                         hint="a tflite-micro version edgeq does not know; `edgeq ops` needs its op lookup messages")
    return tuple(sorted(registered))


@dataclass(frozen=True)
class OpRow:
    kind: str
    edgeq: tuple[str, ...]  # dtype signatures edgeq lowers (("any",) for alias ops); () when none
    tflm: bool | None  # TFLM registers the builtin (None: TFLM not asked)


@dataclass(frozen=True)
class OpCoverage:
    rows: tuple[OpRow, ...]
    tflm_known: bool

    @property
    def totals(self) -> dict[str, int]:
        edgeq = {r.kind for r in self.rows if r.edgeq}
        tflm = {r.kind for r in self.rows if r.tflm}
        out = {"edgeq": len(edgeq)}
        if self.tflm_known:
            out |= {"tflm": len(tflm), "both": len(edgeq & tflm), "only_edgeq": len(edgeq - tflm),
                    "only_tflm": len(tflm - edgeq)}
        return out

    def to_json(self) -> dict:
        return {"tflm_known": self.tflm_known, "totals": self.totals,
                "ops": [{"kind": r.kind, "edgeq": list(r.edgeq), "tflm": r.tflm} for r in self.rows]}


def op_coverage(signatures: Mapping[str, Sequence[str]], tflm: Sequence[str] | None) -> OpCoverage:
    """One row per op kind that edgeq lowers or TFLM registers (``tflm`` None: edgeq's column only)."""
    kinds = sorted(set(signatures) | set(tflm or ()))
    have = set(tflm or ())
    rows = tuple(OpRow(k, tuple(signatures.get(k, ())), None if tflm is None else k in have) for k in kinds)
    return OpCoverage(rows, tflm is not None)
