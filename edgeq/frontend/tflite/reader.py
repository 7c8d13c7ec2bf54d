"""TFLite flatbuffer -> IR.

The only module that knows the flatbuffer layout. It is a small, bounds-checked flatbuffer decoder
(no generated code, no TensorFlow import): every malformed byte sequence becomes an
:class:`~edgeq.errors.EdgeqError`, never an IndexError or a struct.error.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.schema import ACTIVATIONS, BUILTIN_OPS, OPTIONS, PADDINGS, TENSOR_TYPES
from edgeq.ir import Graph, Op, Quant, Tensor

_NP_DTYPES = {
    "float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
    "bool": np.bool_, "int16": np.int16, "int8": np.int8, "float64": np.float64, "uint64": np.uint64,
    "uint32": np.uint32, "uint16": np.uint16,
}


def _unpack_int4(raw: np.ndarray, shape: tuple[int, ...], tid: int) -> np.ndarray:
    """An INT4 tensor's values as int8 in [-8, 7]. TFLite packs the whole tensor two values a byte, element
    2i in the low nibble and 2i + 1 in the high one; an odd count leaves the last high nibble unused
    (tensor_utils::UnpackDenseInt4IntoInt8). The IR holds the values; lowerings pack them for the kernels."""
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    need = (numel + 1) // 2
    if len(raw) < need:
        raise _Corrupt(f"tensor {tid} needs {need} bytes of packed int4 data, buffer has {len(raw)}")
    b = np.asarray(raw[:need], np.uint8)
    low = (b << 4).view(np.int8) >> 4
    high = b.view(np.int8) >> 4
    data = np.stack([low, high], axis=1).reshape(-1)[:numel].reshape(shape)
    data.flags.writeable = False
    return data


_NO_INPUT_OPS = frozenset({"VAR_HANDLE", "CALL_ONCE"})  # the only builtins that may have no inputs


class _Corrupt(Exception):
    pass


class _Buf:
    """Bounds-checked little-endian reads over the model bytes."""

    def __init__(self, data: bytes):
        self.data = data
        self.n = len(data)

    def _get(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > self.n:
            raise _Corrupt(f"read of {size} bytes at offset {pos} is past the end ({self.n} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def u8(self, p):
        return self._get("<B", p)

    def i8(self, p):
        return self._get("<b", p)

    def u16(self, p):
        return self._get("<H", p)

    def i32(self, p):
        return self._get("<i", p)

    def u32(self, p):
        return self._get("<I", p)

    def i64(self, p):
        return self._get("<q", p)

    def f32(self, p):
        return self._get("<f", p)


class _Table:
    __slots__ = ("b", "pos", "vt", "vt_len")

    def __init__(self, b: _Buf, pos: int):
        self.b = b
        self.pos = pos
        self.vt = pos - b.i32(pos)
        self.vt_len = b.u16(self.vt)
        if self.vt_len < 4 or self.vt_len % 2:
            raise _Corrupt(f"bad vtable at offset {self.vt}")

    def _off(self, field: int) -> int:
        o = 4 + 2 * field
        if o >= self.vt_len:
            return 0
        return self.b.u16(self.vt + o)

    def has(self, field: int) -> bool:
        return self._off(field) != 0

    def scalar(self, field: int, kind: str, default):
        off = self._off(field)
        if not off:
            return default
        p = self.pos + off
        b = self.b
        return {
            "b": b.i8, "B": b.u8, "?": lambda q: bool(b.u8(q)), "i": b.i32, "I": b.u32, "q": b.i64,
            "f": b.f32,
        }[kind](p)

    def _indirect(self, field: int) -> int | None:
        off = self._off(field)
        if not off:
            return None
        p = self.pos + off
        return p + self.b.u32(p)

    def table(self, field: int) -> "_Table | None":
        p = self._indirect(field)
        return None if p is None else _Table(self.b, p)

    def string(self, field: int) -> str:
        p = self._indirect(field)
        if p is None:
            return ""
        n = self.b.u32(p)
        if p + 4 + n > self.b.n:
            raise _Corrupt("string runs past the end of the file")
        return self.b.data[p + 4 : p + 4 + n].decode("utf-8", errors="replace")

    def vector(self, field: int, dtype) -> np.ndarray:
        p = self._indirect(field)
        if p is None:
            return np.zeros(0, dtype)
        n = self.b.u32(p)
        size = np.dtype(dtype).itemsize
        if p + 4 + n * size > self.b.n:
            raise _Corrupt(f"vector of {n} elements runs past the end of the file")
        return np.frombuffer(self.b.data, dtype=np.dtype(dtype).newbyteorder("<"), count=n, offset=p + 4)

    def tables(self, field: int) -> list["_Table"]:
        p = self._indirect(field)
        if p is None:
            return []
        n = self.b.u32(p)
        if p + 4 + 4 * n > self.b.n:
            raise _Corrupt(f"table vector of {n} elements runs past the end of the file")
        out = []
        for i in range(n):
            q = p + 4 + 4 * i
            out.append(_Table(self.b, q + self.b.u32(q)))
        return out


def _options(op_table: _Table, kind: str) -> dict:
    spec = OPTIONS.get(kind)
    if spec is None:
        return {}
    t = op_table.table(4)
    attrs: dict = {}
    for i, (name, ftype, default) in enumerate(spec):
        if t is None:
            value = default
        elif ftype == "[i":
            value = tuple(int(v) for v in t.vector(i, np.int32))
        else:
            value = t.scalar(i, ftype, default)
        if name == "fused_activation_function":
            value = ACTIVATIONS.get(value, f"UNKNOWN({value})")
        elif name == "padding":
            value = PADDINGS.get(value, f"UNKNOWN({value})")
        attrs[name] = value
    return attrs


def read_tflite(data: bytes, name: str = "model") -> Graph:
    """Parse a TFLite flatbuffer into a :class:`Graph` (first subgraph)."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise EdgeqError(
            f"{name} is not a TFLite model (no 'TFL3' file identifier in its first 8 bytes)",
            hint="pass a .tflite file written by the TFLite converter, or a Keras model to quantize",
        )
    try:
        return _read(_Buf(bytes(data)), name)
    except (_Corrupt, ValueError, UnicodeError, OverflowError, MemoryError) as e:
        raise EdgeqError(
            f"{name} is a corrupt or truncated TFLite file: {e}",
            hint="re-export the model with the TFLite converter",
        ) from None


def _read(b: _Buf, name: str) -> Graph:
    model = _Table(b, b.u32(0))
    opcodes = []
    for oc in model.tables(1):
        dep = oc.scalar(0, "b", 0)
        code = max(dep, oc.scalar(3, "i", 0))
        if code == 32:  # CUSTOM
            opcodes.append("CUSTOM:" + oc.string(1))
        else:
            opcodes.append(BUILTIN_OPS[code] if 0 <= code < len(BUILTIN_OPS) else f"BUILTIN_{code}")
    buffers = model.tables(4)
    subgraphs = model.tables(2)
    if not subgraphs:
        raise _Corrupt("the model has no subgraph")
    sg = subgraphs[0]

    tensors = []
    signatures: dict[int, tuple[int, ...]] = {}
    for tid, t in enumerate(sg.tables(0)):
        shape = tuple(int(s) for s in t.vector(0, np.int32))
        signature = tuple(int(s) for s in t.vector(7, np.int32))
        if signature:
            signatures[tid] = signature
        ttype = t.scalar(1, "b", 0)
        dtype = TENSOR_TYPES.get(ttype, f"type{ttype}")
        quant = None
        q = t.table(4)
        if q is not None:
            scale = q.vector(2, np.float32)
            zp = q.vector(3, np.int64)
            if len(scale):
                if len(zp) not in (len(scale), 0):
                    raise _Corrupt(f"tensor {tid}: {len(scale)} scales but {len(zp)} zero points")
                if not np.all(np.isfinite(scale)) or np.any(scale < 0):
                    raise _Corrupt(f"tensor {tid} has a negative or non-finite quantization scale")
                zps = tuple(int(z) for z in zp) if len(zp) else (0,) * len(scale)
                quant = Quant(tuple(float(s) for s in scale), zps, int(q.scalar(6, "i", 0)))
        data = None
        bidx = t.scalar(2, "I", 0)
        if bidx >= len(buffers) and bidx != 0:
            raise _Corrupt(f"tensor {tid} names buffer {bidx} of {len(buffers)}")
        if bidx:
            buf = buffers[bidx]
            raw = buf.vector(0, np.uint8)
            off, size = buf.scalar(1, "q", 0), buf.scalar(2, "q", 0)
            if len(raw) == 0 and off > 1:
                if off + size > b.n:
                    raise _Corrupt(f"buffer {bidx} lies past the end of the file")
                raw = np.frombuffer(b.data, np.uint8, count=size, offset=off)
            if len(raw) and dtype == "int4":
                data = _unpack_int4(raw, shape, tid)
            elif len(raw):
                npdt = _NP_DTYPES.get(dtype)
                if npdt is None:
                    raise _Corrupt(f"tensor {tid} has constant data of unsupported type {dtype}")
                numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
                need = numel * np.dtype(npdt).itemsize
                if len(raw) < need:
                    raise _Corrupt(f"tensor {tid} needs {need} bytes of data, buffer has {len(raw)}")
                arr = np.frombuffer(raw.tobytes()[:need], dtype=np.dtype(npdt).newbyteorder("<"))
                data = arr.astype(npdt).reshape(shape)
                data.flags.writeable = False
        if data is None and t.scalar(5, "?", False) and dtype in _NP_DTYPES:
            # A variable tensor (an RNN's state) without a buffer starts every inference where LiteRT's
            # ResetVariableTensor puts it: the zero point for int8, zero otherwise. edgeq runs stateless
            # (each inference from the reset state), so the op reads it as a constant.
            fill = quant.zero_point[0] if (quant is not None and dtype == "int8") else 0
            data = np.full(shape, fill, _NP_DTYPES[dtype])
            data.flags.writeable = False
        if quant is not None and data is None and dtype in ("int8", "uint8", "int16") and 0.0 in quant.scale:
            raise _Corrupt(f"tensor {tid} is quantized with a zero scale")
        tensors.append(Tensor(tid, t.string(3), shape, dtype, quant, data))

    n = len(tensors)

    def ids(vec) -> tuple[int, ...]:
        out = tuple(int(v) for v in vec)
        for v in out:
            if not -1 <= v < n:
                raise _Corrupt(f"tensor index {v} out of range (model has {n} tensors)")
        return out

    ops = []
    for i, o in enumerate(sg.tables(3)):
        idx = o.scalar(0, "I", 0)
        if idx >= len(opcodes):
            raise _Corrupt(f"operator {i} uses opcode {idx} of {len(opcodes)}")
        kind = opcodes[idx]
        outs = ids(o.vector(2, np.int32))
        loc = tensors[outs[0]].name if outs and outs[0] >= 0 else ""
        attrs = _options(o, kind)
        if o.has(8):  # intermediates: tensors holding scales an op's kernel reads (int8 LSTM)
            attrs["intermediates"] = ids(o.vector(8, np.int32))
        ops.append(Op(i, kind, ids(o.vector(1, np.int32)), outs, attrs, location=loc))

    inputs, outputs = ids(sg.vector(1, np.int32)), ids(sg.vector(2, np.int32))
    _check_dataflow(tensors, ops, inputs, outputs)
    _check_static_io(tensors, signatures, inputs, outputs, name)
    return Graph(
        tensors=tuple(tensors),
        ops=tuple(ops),
        inputs=inputs,
        outputs=outputs,
        name=name,
        meta={"subgraphs": len(subgraphs), "description": model.string(3),
              "signature": _signature_names(model, n), **_edgeq_metadata(model, buffers)},
    )


# The metadata entry edgeq.frontend.cluster.mark_clustered writes into a model it clustered: the JSON
# {"clusters": K, "per_channel": bool}. Read into Graph.meta["clusters"] (K) and ["clusters_per_channel"].
CLUSTERS_METADATA = "edgeq_clusters"


def _edgeq_metadata(model: "_Table", buffers: list) -> dict:
    """What edgeq's own metadata entries say (:data:`CLUSTERS_METADATA`); {} for any other model. An entry
    that does not parse is ignored, as LiteRT ignores metadata it does not know."""
    import json

    for md in model.tables(6):
        if md.string(0) != CLUSTERS_METADATA:
            continue
        bidx = md.scalar(1, "I", 0)
        if not 0 < bidx < len(buffers):
            return {}
        try:
            info = json.loads(buffers[bidx].vector(0, np.uint8).tobytes().decode())
            k = int(info["clusters"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return {}
        return {"clusters": k, "clusters_per_channel": bool(info.get("per_channel", False))} if k > 0 else {}
    return {}


def _signature_names(model: "_Table", n: int) -> dict[str, dict[int, str]]:
    """The first subgraph's SignatureDef names: {"inputs": {tensor id: name}, "outputs": {...}} (the names
    the user gave, e.g. Keras input names; the tensor names carry serving prefixes)."""
    res: dict[str, dict[int, str]] = {"inputs": {}, "outputs": {}}
    for sig in model.tables(7):
        if sig.scalar(4, "I", 0) != 0:
            continue
        for field, role in ((0, "inputs"), (1, "outputs")):
            for tm in sig.tables(field):
                tid = tm.scalar(1, "I", 0)
                if tid < n:
                    res[role][tid] = tm.string(0)
    return res


def _check_dataflow(tensors: list[Tensor], ops: list[Op], inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
    """The graph is a dataflow graph: each tensor written once, by an op, unless it is a model input or a
    constant; every tensor read is written or given; no cycles. A corrupt file fails here, not in a pass."""
    given = set(inputs) | {t.id for t in tensors if t.data is not None}
    writer: dict[int, int] = {}
    for op in ops:
        if not op.outputs:
            raise _Corrupt(f"operator {op.id} has no outputs")
        if not op.inputs and op.kind not in _NO_INPUT_OPS:
            raise _Corrupt(f"operator {op.id} ({op.kind}) has no inputs")
        for t in op.outputs:
            if t < 0:
                raise _Corrupt(f"operator {op.id} writes no tensor (output index -1)")
            if t in given or t in writer:
                what = "a model input or constant" if t in given else f"also written by operator {writer[t]}"
                raise _Corrupt(f"operator {op.id} writes tensor {t}, which is {what}")
            writer[t] = op.id
    for op in ops:
        for t in op.inputs:
            if t >= 0 and t not in given and t not in writer:
                raise _Corrupt(f"operator {op.id} reads tensor {t}, which no operator writes")
    for t in outputs:
        if t < 0 or (t not in writer and t not in given):
            raise _Corrupt(f"model output tensor {t} is not written by any operator")
    # no cycles (Kahn's algorithm over op -> op edges)
    readers: dict[int, list[int]] = {}
    waiting = {}
    for op in ops:
        deps = {writer[t] for t in op.inputs if t in writer}
        waiting[op.id] = len(deps)
        for d in deps:
            readers.setdefault(d, []).append(op.id)
    ready = [i for i, n in waiting.items() if n == 0]
    done = 0
    while ready:
        i = ready.pop()
        done += 1
        for r in readers.get(i, ()):
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    if done != len(ops):
        raise _Corrupt("the operators form a cycle")


def _check_static_io(tensors: list[Tensor], signatures: dict[int, tuple[int, ...]], inputs: tuple[int, ...],
                     outputs: tuple[int, ...], name: str) -> None:
    """Generated C needs fixed shapes: a model input or output with a variable dimension beyond the batch
    (``-1`` in its shape signature) or a zero-sized one is a user error, named here."""
    for role, tids in (("input", inputs), ("output", outputs)):
        for tid in tids:
            if tid < 0:
                continue
            t = tensors[tid]
            sig = signatures.get(tid, ())
            if any(d < 0 for d in sig[1:]) or (sig and len(sig) != len(t.shape)):
                raise EdgeqError(
                    f"{name}: model {role} {t.name!r} has a variable dimension (shape signature "
                    f"{list(sig)}, stored shape {list(t.shape)})",
                    hint="give the model fixed input shapes (keras.Input(shape=(...)) with numbers only) and "
                    "convert it again; microcontroller code needs static shapes",
                )
            if any(d <= 0 for d in t.shape) or any(d == 0 for d in sig):
                raise EdgeqError(
                    f"{name}: model {role} {t.name!r} has a zero-sized or negative dimension, shape {list(t.shape)}",
                    hint="every input and output dimension must be at least 1: fix the model's shapes and convert "
                    "it again",
                )


def read_tflite_file(path: str | Path) -> Graph:
    p = Path(path)
    if not p.is_file():
        raise EdgeqError(f"{p}: no such file", hint="check the path")
    stem = "".join(c if c.isalnum() else "_" for c in p.stem)
    return read_tflite(p.read_bytes(), name=stem or "model")
