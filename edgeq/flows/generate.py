"""The lower and generate stages as calls: a quantized .tflite -> the lowered, scheduled, memory-planned
IR -> a C library folder with its manifest (``edgeq.json``), or a host build of it loaded in-process."""

from __future__ import annotations

import hashlib
from pathlib import Path

from edgeq.codegen.emit import GeneratedLibrary, generate
from edgeq.errors import EdgeqError
from edgeq.frontend.load import load_model
from edgeq.frontend.tflite.kind import ensure_supported
from edgeq.ir import Graph
from edgeq.passes.analysis import macs, op_histogram
from edgeq.passes.pipeline import lower_tflite
from edgeq.targets.host import HostModel


def model_manifest(model: bytes, g: Graph, rounding: str) -> dict:
    """What a generated folder records about its model (``edgeq.json``)."""
    return {"model_name": g.name, "model_sha256": hashlib.sha256(model).hexdigest(), "rounding": rounding,
            "cpu": g.meta.get("cpu", "any"), "macs": macs(g), "ops": op_histogram(g), "num_ops": len(g.ops)}


def generate_c(model: bytes, out_dir: str | Path, rounding: str = "litert", prefix: str = "model",
                     name: str = "model", cpu: str = "any", graph: Graph | None = None) -> GeneratedLibrary:
    """Generate the C library of a quantized model into ``out_dir`` (with its ``edgeq.json`` manifest);
    ``graph``: the model already lowered with the same options (saves lowering it again)."""
    g = graph if graph is not None else lower_tflite(model, rounding, name, cpu)
    return generate(g, out_dir, prefix, manifest=model_manifest(model, g, rounding))


def host_model(model: bytes, out_dir: str | Path, rounding: str = "litert", prefix: str = "model") -> HostModel:
    """Generate C for ``model`` into ``out_dir`` and load it into this process (see HostModel)."""
    return HostModel(generate_c(model, out_dir, rounding, prefix))


def read_deployable(path: str | Path) -> bytes:
    """A quantized (or float32) .tflite the C backend takes; a clear error for anything else."""
    loaded = load_model(path)
    if loaded.kind != "tflite":
        raise EdgeqError(f"{path} is a {loaded.kind} model; this command takes a quantized .tflite",
                         hint=f"quantize it first: edgeq quantize {path} --calib DATA -o model_int8.tflite")
    return ensure_supported(loaded)[0]
