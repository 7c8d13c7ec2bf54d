"""What a TFLite file is: readable at all (a LiteRT interpreter for its bytes), fully int8, or which
scheme (int8, int16x8, float32, int8 with float32 ops) the C backend takes it as."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import error_line, quiet_tf
from edgeq.frontend.tflite.reader import read_tflite

if TYPE_CHECKING:  # types only: load reads .tflite files through this module
    from edgeq.frontend.load import LoadedModel


TFLITE_FILE_IDENTIFIER = b"TFL3"  # the FlatBuffer file identifier of a TFLite model, at bytes 4..8


# ops a TFLite dynamic-range ("hybrid") model feeds constant int8 weights to (LiteRT's hybrid kernels)
HYBRID_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL"})

READ_TIMEOUT = 300.0  # seconds LiteRT may take to read a model's bytes


def tflite_interpreter(data: bytes, name: str = "model") -> isolation.Remote:
    """A LiteRT interpreter for TFLite bytes, in edgeq's worker (:func:`edgeq.isolation.create`: LiteRT
    parses the FlatBuffer natively, and damaged bytes can crash it): its methods run there, the private ones
    through ``.invoke("_get_ops_details")``. An EdgeqError if they are not a readable TFLite model."""
    if len(data) < 8 or data[4:8] != TFLITE_FILE_IDENTIFIER:
        raise EdgeqError(
            f"{name} is not a TFLite model (no 'TFL3' file identifier at bytes 4..8)",
            hint="pass a .tflite file written by the TFLite converter",
        )
    return isolation.create("edgeq.frontend.tflite.kind:tflite_interpreter_here", bytes(data), name,
                            stage=f"reading {name}", tool="LiteRT", timeout=READ_TIMEOUT)


def tflite_interpreter_here(data: bytes, name: str) -> Any:
    """:func:`tflite_interpreter` in this process (the worker)."""
    from ai_edge_litert.interpreter import Interpreter

    with quiet_tf():
        try:
            return Interpreter(model_content=bytes(data))
        except Exception as error:
            raise EdgeqError(
                f"{name} could not be read as a TFLite model",
                detail=[error_line(error)],
                hint="the file may be truncated or use custom ops; re-convert it with the TFLite converter",
            ) from None


def _index_input(role: str, detail: dict) -> bool:
    """An unquantized int32/int64 model input: indices (token ids for GATHER), which the converter keeps
    as they are when the Keras model declares an integer input."""
    return role == "input" and np.dtype(detail["dtype"]) in (np.dtype("int32"), np.dtype("int64")) and not len(
        detail["quantization_parameters"]["scales"])


def int8_problems(data: bytes, name: str = "model", io_types: tuple[str, str] = ("int8", "int8")) -> list[str]:
    """Why a TFLite model is not fully int8-quantized (empty when it is).

    Fully int8 means inputs and outputs of the expected types (``io_types``: int8 unless float or uint8
    model I/O was asked for) and no floating-point tensor anywhere else (weights int8, biases int32);
    dynamic-range models (int8 weights, float activations) are not.
    """
    interpreter = tflite_interpreter(data, name)
    io = (("input", interpreter.get_input_details(), io_types[0]), ("output", interpreter.get_output_details(), io_types[1]))
    problems = [
        f"{role} {d['name']!r} is {np.dtype(d['dtype']).name}, not {want}"
        for role, details, want in io
        for d in details
        if np.dtype(d["dtype"]) != np.dtype(want) and not _index_input(role, d)
    ]
    passthrough = {d["index"] for d in interpreter.get_input_details()} & {
        d["index"] for d in interpreter.get_output_details()}
    if passthrough:
        problems.insert(0, f"{len(passthrough)} output(s) are model inputs passed through unchanged (the layers "
                           "in between compute the identity), which the converter leaves unquantized")
    io_ids = {d["index"] for _, details, _ in io for d in details}
    floats = [d["name"] for d in interpreter.get_tensor_details()
              if np.dtype(d["dtype"]).kind == "f" and d["index"] not in io_ids
              and int(np.prod(d["shape"])) > 0]  # empty: an int8 LSTM's unused intermediates
    if floats:
        examples = ", ".join(repr(name if len(name) <= 60 else name[:57] + "...") for name in floats[:3])
        problems.append(f"{len(floats)} tensor(s) are floating point, e.g. {examples}")
    return problems


def is_int8_tflite(data: bytes) -> bool:
    """Whether TFLite bytes are a fully int8-quantized model (see :func:`int8_problems`)."""
    return not int8_problems(data)


def ensure_int8(loaded: LoadedModel) -> bytes:
    """The bytes of a ``.tflite`` model that is already fully int8; a clear error for a float one."""
    if loaded.kind != "tflite" or loaded.tflite_bytes is None:
        raise ValueError(f"ensure_int8 takes a loaded .tflite model, not a {loaded.kind!r} model")
    problems = int8_problems(loaded.tflite_bytes, str(loaded.path))
    if problems:
        raise EdgeqError(
            f"{loaded.path} is not a fully int8-quantized TFLite model",
            detail=problems,
            hint="pass the Keras model (.keras/.h5) or SavedModel with calibration data so edgeq quantizes "
            "it, or convert it with full-integer quantization (int8 inputs and outputs) first",
        )
    return loaded.tflite_bytes


def tflite_scheme(data: bytes) -> str | None:
    """What kind of model TFLite bytes are, for the C backend: "int8" (fully int8), "int8+float32" (int8
    with some ops left in float32, as :func:`edgeq.frontend.partial.quantize_calibrated` makes them), "int16x8",
    "float32", "weight-only" (float32 activations, constant int8 weights each feeding a DEQUANTIZE, as
    :mod:`edgeq.frontend.weight_only` makes them), "hybrid" (TFLite's dynamic-range models: constant int8
    weights fed straight to float32 ops, which :func:`ensure_supported` turns into weight-only), or None for
    anything else, which the C backend cannot run (:func:`ensure_int8` names why)."""
    if not int8_problems(data, "model"):
        return "int8"
    g = read_tflite(data)
    acts: set[str] = {g.tensor(t).dtype for t in g.inputs}
    weight_only = hybrid = False
    for op in g.ops:
        outs = {g.tensor(t).dtype for t in op.outputs}
        consts = {g.tensor(t).dtype for t in op.inputs if t >= 0 and g.tensor(t).is_const}
        if op.kind == "DEQUANTIZE" and consts == {"int8"} and outs == {"float32"}:
            weight_only = True  # an int8 weight dequantized for float ops: not an activation
            continue
        acts |= outs
        if "float32" in outs and consts - {"float32", "int32"}:
            if not consts - {"float32", "int32", "int8"} and op.kind in HYBRID_OPS:
                hybrid = True  # int8 weights computed on in float: dynamic-range quantization
                continue
            return None
    acts -= {"int32", "bool"}
    io = set(g.inputs) | set(g.outputs)
    inner = {g.tensor(t).dtype for op in g.ops for t in op.outputs if t not in io}
    if weight_only or hybrid:
        return ("hybrid" if hybrid else "weight-only") if acts == {"float32"} else None
    if acts == {"float32"}:
        return "float32"
    if "int16" in acts:
        return "int16x8" if acts <= {"int16", "int8", "float32"} and "float32" not in inner else None
    if acts <= {"int8", "uint8", "float32"}:
        return "int8+float32"
    return None


def ensure_supported(loaded: LoadedModel) -> tuple[bytes, str]:
    """The bytes of a ``.tflite`` model the C backend can take (int8, int8 with float32 ops, int16x8,
    float32 or weight-only) and its scheme; the clear error of :func:`ensure_int8` for anything else.

    A dynamic-range ("hybrid") model comes back as its weight-only form (the same int8 weights, each
    dequantized by a DEQUANTIZE op, float32 activations: edgeq.frontend.weight_only.hybrid_to_weight_only)
    with the scheme "hybrid", so that the caller can say so: LiteRT then runs it, as the reference, with
    its float kernels instead of the hybrid ones that quantize activations on the fly."""
    if loaded.kind != "tflite" or loaded.tflite_bytes is None:
        raise ValueError(f"ensure_supported takes a loaded .tflite model, not a {loaded.kind!r} model")
    scheme = tflite_scheme(loaded.tflite_bytes)
    if scheme is None:
        ensure_int8(loaded)  # raises, naming the float tensors
        raise AssertionError("unreachable: a model with no scheme is not fully int8")
    if scheme == "hybrid":  # flatbuffer surgery in the worker (the module imports LiteRT's schema)
        return isolation.call("edgeq.frontend.weight_only:hybrid_to_weight_only_here", bytes(loaded.tflite_bytes),
                              stage=f"rewriting the dynamic-range model {loaded.path} as weight-only",
                              tool="LiteRT's flatbuffer schema"), scheme
    return loaded.tflite_bytes, scheme
