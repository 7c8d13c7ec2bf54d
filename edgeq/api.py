"""edgeq for Python users: the stages and flows as functions. A facade only — nothing inside edgeq
imports it; each name lives in its stage's module (see docs/architecture.md).

    from edgeq.api import quantize_model, lower_tflite, host_model, convert_and_flash
    q = quantize_model("model.keras", "calib.npy")
    m = host_model(q.tflite, "build/model_c")     # the generated C, compiled for the host, in-process
    outputs = m.run(x)                            # same bytes as LiteRT's reference kernels
"""

from __future__ import annotations

from edgeq.files import write_atomic
from edgeq.flows.compare_schemes import SchemeComparison, compare_schemes
from edgeq.flows.convert_and_flash import FlowResult, convert_and_flash
from edgeq.flows.generate import generate_c, host_model, lower_tflite, model_manifest
from edgeq.flows.quantize import SCHEMES, QuantizeResult, quantize_model, summarize
from edgeq.quality.calibrations import compare_calibrations
from edgeq.quality.sensitivity import analyze, quantize_partial
from edgeq.quality.validate import validate

__all__ = ["SCHEMES", "FlowResult", "QuantizeResult", "SchemeComparison", "analyze", "compare_calibrations",
           "compare_schemes", "convert_and_flash",
           "generate_c", "host_model", "lower_tflite", "model_manifest", "quantize_model",
           "quantize_partial", "summarize", "validate", "write_atomic"]
