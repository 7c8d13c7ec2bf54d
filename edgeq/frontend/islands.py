"""Float islands: the parts of an int8 model the TFLite converter leaves in float32.

The converter leaves an op in float when it has no int8 kernel for it (Keras 3's LayerNormalization
computes a NEG that way; an ``elu`` activation stays float): it dequantizes the int8 tensor, computes in
float32 and quantizes the result. When the float part between one DEQUANTIZE (of an int8 tensor) and one
QUANTIZE (to int8) is a group of elementwise ops whose only other operands are scalar constants, every
output element is a function of the one input element at the same position, and that input has 256
values: the island is one int8 -> int8 function. :func:`fold_islands` replaces each such island by a
``LUT`` op whose 256-entry table (a constant int8 tensor, entry k for input (int8)k) LiteRT itself
computes: the island is cut out into a tiny float .tflite whose input holds the 256 int8 values, and
LiteRT's reference kernels (BUILTIN_REF, the reference the generated C is checked against) run it once.
The table is bit-exact by construction and the board needs no FPU for it.

Float ops outside such islands (an op with several int8 sources, e.g. a float CONCATENATION of dequantized
branches, or an island ending in a model output) stay float32: the model is then deployed in the mixed
int8 + float32 scheme (:func:`float_notes` names the Keras layers that stay float).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import quiet_tf
from edgeq.frontend.tflite.names import keras_layer
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph, Op, Tensor

# Float ops whose LiteRT reference kernel computes each output element from the input elements at the same
# position only (operands of one shape, or a scalar constant), so that a group of them is one function of
# one value per element.
ELEMENTWISE = frozenset({
    "ABS", "NEG", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "SIN", "COS", "TANH", "LOGISTIC", "ELU", "GELU",
    "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "HARD_SWISH", "FLOOR", "CEIL", "ROUND",
    "SIGN", "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE", "FLOOR_DIV",
    "FLOOR_MOD",
})
LUT_KIND = "LUT"  # the op an island becomes: inputs (int8 x, int8[256] table), output int8 y


@dataclass(frozen=True)
class Island:
    """DEQUANTIZE(source) -> ``ops`` (float32, elementwise) -> QUANTIZE -> ``output``."""

    dequantize: Op
    ops: tuple[Op, ...]  # the float ops, in graph order
    quantize: Op

    @property
    def source(self) -> int:
        return self.dequantize.inputs[0]

    @property
    def output(self) -> int:
        return self.quantize.outputs[0]


def _int8_per_tensor(t: Tensor) -> bool:
    return t.dtype == "int8" and t.quant is not None and not t.quant.per_channel and not t.is_const


def find_islands(g: Graph) -> list[Island]:
    """Every float island of ``g`` that is one int8 -> int8 function of one input element (see the module
    docstring), in graph order."""
    consumers: dict[int, list[Op]] = {}
    for op in g.ops:
        for t in op.inputs:
            if t >= 0:
                consumers.setdefault(t, []).append(op)
    outputs = set(g.outputs)
    islands = []
    for d in g.ops:
        if d.kind != "DEQUANTIZE" or not _int8_per_tensor(g.tensor(d.inputs[0])):
            continue
        island = _grow(g, d, consumers, outputs)
        if island is not None:
            islands.append(island)
    return islands


def _grow(g: Graph, d: Op, consumers: dict[int, list[Op]], outputs: set[int]) -> Island | None:
    """The island starting at DEQUANTIZE ``d``, or None when the float ops reached from it are not one."""
    shape = g.tensor(d.outputs[0]).shape
    inside = {d.outputs[0]}  # float tensors computed from the source alone
    ops: dict[int, Op] = {}
    quantizes: dict[int, Op] = {}
    todo = [d.outputs[0]]
    while todo:
        tid = todo.pop()
        if tid in outputs:
            return None  # a float value the model returns
        for op in consumers.get(tid, []):
            if op.id in ops or op.id in quantizes:
                continue
            out = g.tensor(op.outputs[0])
            if op.kind == "QUANTIZE" and _int8_per_tensor(out):
                quantizes[op.id] = op
                continue
            if op.kind not in ELEMENTWISE or len(op.outputs) != 1 or out.dtype != "float32" or out.shape != shape:
                return None
            ops[op.id] = op
            inside.add(out.id)
            todo.append(out.id)
    if len(quantizes) != 1 or not ops:
        return None
    for op in ops.values():  # every operand: the source's float values or a float scalar constant
        for t in op.inputs:
            if t < 0 or t in inside:
                continue
            c = g.tensor(t)
            if not (c.is_const and c.dtype == "float32" and c.numel == 1):
                return None
    (q,) = quantizes.values()
    return Island(d, tuple(sorted(ops.values(), key=lambda o: o.id)), q)


def island_tables(model: bytes, g: Graph, islands: list[Island]) -> list[np.ndarray | None]:
    """The 256-entry int8 table of each island (entry k for input (int8)k), computed by LiteRT's reference
    kernels running the island's own ops (cut out of ``model``, whose graph ``g`` is) on all 256 inputs; None
    for an island with an op the reference resolver does not have (LiteRT 2.3's BUILTIN_REF has no ELU):
    no table can be checked against it, so that island stays float."""
    if not islands:
        return []
    from ai_edge_litert import interpreter as litert

    values = np.arange(-128, 128, dtype=np.int8)
    tables: list[np.ndarray | None] = []
    with quiet_tf():
        for island in islands:
            try:
                it = litert.Interpreter(model_content=_island_model(model, g, island),
                                        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF)
                it.allocate_tensors()
            except (ValueError, RuntimeError):  # "Didn't find op for builtin opcode ..."
                tables.append(None)
                continue
            it.set_tensor(it.get_input_details()[0]["index"], values)
            it.invoke()
            out = it.get_tensor(it.get_output_details()[0]["index"])
            table = np.empty(256, np.int8)
            table[values.view(np.uint8)] = out
            tables.append(table)
    return tables


def _island_model(model: bytes, g: Graph, island: Island) -> bytes:
    """A .tflite of the island alone: int8 input [256] -> DEQUANTIZE -> the float ops -> QUANTIZE -> int8
    output [256], with the original tensors' quantization and the scalar constants' buffers."""
    import flatbuffers  # the flatbuffer writer and the schema come with TensorFlow
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model, 0))
    sg = m.subgraphs[0]
    ops = (island.dequantize, *island.ops, island.quantize)
    new_tensors: list = []
    buffers = [schema.BufferT()]
    index: dict[int, int] = {}
    for op in ops:
        for tid in (*op.inputs, *op.outputs):
            if tid < 0 or tid in index:
                continue
            t = copy.deepcopy(sg.tensors[tid])
            if g.tensor(tid).is_const:
                buffers.append(copy.deepcopy(m.buffers[t.buffer]))
                t.buffer = len(buffers) - 1
            else:
                t.shape, t.shapeSignature, t.buffer = np.array([256], np.int32), None, 0
            index[tid] = len(new_tensors)
            new_tensors.append(t)
    operators = []
    for op in ops:
        o = copy.deepcopy(sg.operators[op.id])
        o.inputs = np.array([index[t] if t >= 0 else -1 for t in o.inputs], np.int32)
        o.outputs = np.array([index[t] for t in o.outputs], np.int32)
        o.intermediates = None
        operators.append(o)
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.name = new_tensors, operators, "island"
    sub.inputs = np.array([index[island.source]], np.int32)
    sub.outputs = np.array([index[island.output]], np.int32)
    out = schema.ModelT()
    out.version, out.operatorCodes, out.subgraphs, out.buffers = m.version, m.operatorCodes, [sub], buffers
    out.description = "edgeq float island"
    b = flatbuffers.Builder(4096)
    b.Finish(out.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def fold_islands(g: Graph, model: bytes) -> Graph:
    """``g`` (read from ``model``) with every float island replaced by a LUT op (inputs: the int8 source and
    the constant int8[256] table; output: the island's int8 output) at the island's QUANTIZE; the LUT op's
    location is the island's last float op's (it names the Keras layer), its ``island`` attribute the
    float ops' kinds."""
    islands = find_islands(g)
    if not islands:
        return g
    tensors = list(g.tensors)
    by_quantize: dict[int, Op] = {}
    gone: set[int] = set()
    tables = isolation.call("edgeq.frontend.islands:island_tables", model, g, islands,
                            stage="computing the tables of float islands", tool="LiteRT") if islands else []
    for island, table in zip(islands, tables):
        if table is None:
            continue
        last = island.ops[-1]
        tid = len(tensors)
        tensors.append(Tensor(tid, f"{last.location}/lut", (256,), "int8", None, table))
        by_quantize[island.quantize.id] = Op(
            island.quantize.id, LUT_KIND, (island.source, tid), (island.output,),
            {"island": tuple(op.kind for op in island.ops)}, location=last.location)
        gone |= {island.dequantize.id, *(op.id for op in island.ops)}
    ops = tuple(by_quantize.get(op.id, op) for op in g.ops if op.id not in gone)
    return replace(g, tensors=tuple(tensors), ops=ops)


def read_model(model: bytes, name: str = "model") -> Graph:
    """The IR of a quantized .tflite as the C backend takes it: :func:`read_tflite`, then the float islands
    folded into tables (:func:`fold_islands`)."""
    return fold_islands(read_tflite(model, name=name), model)


def float_ops(g: Graph) -> list[Op]:
    """The ops of ``g`` that compute in float32 (not counting QUANTIZE / DEQUANTIZE)."""
    return [op for op in g.ops if op.kind not in ("QUANTIZE", "DEQUANTIZE") and op.outputs
            and g.tensor(op.outputs[0]).dtype == "float32"]


def layer_name(location: str) -> str:
    """The Keras layer an op's output tensor name comes from (the tensor name itself when it has no scope)."""
    return keras_layer(location) or location


def float_notes(model: bytes) -> list[str]:
    """What happens to the float parts of a quantized model: which Keras layers' float islands run as
    256-entry tables, which layers stay float32 (the mixed int8 + float32 scheme, for boards with an FPU).
    Empty for a model without float ops."""
    g = read_tflite(model)
    if not float_ops(g):
        return []
    folded = read_model(model)
    notes = []
    luts = [op for op in folded.ops if op.kind == LUT_KIND]
    if luts:
        names = ", ".join(f"{layer_name(op.location)} ({' '.join(op.attrs['island'])})" for op in luts)
        notes.append(f"{len(luts)} float island(s) the converter left between DEQUANTIZE and QUANTIZE run as "
                     f"256-entry int8 tables computed by LiteRT: {names}")
    rest = float_ops(folded)
    if rest:
        layers = list(dict.fromkeys(f"{layer_name(op.location)} ({op.kind})" for op in rest))
        notes.append(f"{len(rest)} op(s) stay float32 (mixed int8 + float32 scheme; on a board with an FPU): "
                     + ", ".join(layers))
    return notes


# What float32 computation costs a core without an FPU (every float operation a libgcc soft-float call):
# instructions per inference of kws_dscnn (mlperf-tiny) weight-only int8 on mps2-an385 (Cortex-M3, built with
# --allow-soft-float) over its int8 build there, measured by `python tools/scheme_table.py --soft-float`.
SOFT_FLOAT_RATIO = 10.7  # 243,163,440 / 22,771,440
SOFT_FLOAT_MEASURED = "kws_dscnn weight-only vs int8 instructions per inference on mps2-an385"


def refuse_float_ops(model: bytes, what: str, board: str, scheme: str = "int8+float32") -> None:
    """The refusal of float32 computation for a board without an FPU (unless the user passes
    --allow-soft-float): an EdgeqError naming the Keras layers whose ops stay float32 after the islands
    became tables (nothing when none do), with the measured soft-float cost (:data:`SOFT_FLOAT_RATIO`).
    ``scheme``: "int8+float32" (ops the int8 conversion left in float) or "weight-only" (every op)."""
    rest = float_ops(read_model(model))
    if rest:
        layers = list(dict.fromkeys(f"{layer_name(op.location)} ({op.kind})" for op in rest))
        cost = (f"in software floating point they would run about {SOFT_FLOAT_RATIO:g}x the instructions of "
                f"int8 ({SOFT_FLOAT_MEASURED})")
        if scheme == "weight-only":
            raise EdgeqError(
                f"{what} is weight-only int8 (float32 activations), and {board} has no FPU",
                detail=[f"{len(rest)} op(s) compute in float32; {cost}"],
                hint="deploy it in int8 (--scheme int8 --calib DATA), on a board with an FPU (e.g. mps2-an386), "
                     "or pass --allow-soft-float to build it anyway")
        raise EdgeqError(
            f"the TFLite converter did not fully quantize {what} to int8, and {board} has no FPU",
            detail=[f"{len(rest)} op(s) stay float32: " + ", ".join(layers), cost],
            hint="some layers have no int8 kernel in TFLite; replace them in the Keras model, deploy the "
                 "mixed int8 + float32 model on a board with an FPU (e.g. mps2-an386), or pass "
                 "--allow-soft-float to build it anyway")
