"""TFLite "16x8" post-training quantization: int16 activations, int8 weights, int64 bias.

:func:`converter_settings` switches a ``tf.lite.TFLiteConverter`` (already given its representative
dataset) to the 16x8 op set; :func:`quantize_int16x8` is :func:`edgeq.frontend.convert.quantize` with
those settings (same batch-1 SavedModel export and calibration). Model I/O is int16 (or float32, with
QUANTIZE / DEQUANTIZE ops at the boundary).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError
from edgeq.frontend.convert import calibrating_converter, run_converter
from edgeq.frontend.data import Samples
from edgeq.frontend.load import LoadedModel
from edgeq.frontend.runtime import import_tf, quiet_tf
from edgeq.frontend.tflite.reader import read_tflite

IO_TYPES = ("int16", "float32")


def converter_settings(converter: Any, input_type: str = "int16", output_type: str = "int16") -> Any:
    """Configure ``converter`` for 16x8 full-integer quantization; returns it."""
    for what, t in (("input", input_type), ("output", output_type)):
        if t not in IO_TYPES:
            raise EdgeqError(f"the int16x8 scheme cannot have {t} model {what}s",
                             hint=f"use one of {', '.join(IO_TYPES)}")
    tf = import_tf()
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = getattr(tf, input_type)
    converter.inference_output_type = getattr(tf, output_type)
    return converter


def int16x8_problems(data: bytes) -> list[str]:
    """Tensors of a 16x8 model whose activations are not int16 (apart from float I/O and int32 shapes)."""
    g = read_tflite(data)
    bad = []
    for op in g.ops:
        for tid in op.outputs:
            t = g.tensor(tid)
            if t.dtype not in ("int16", "int32") and not (op.kind == "DEQUANTIZE" and tid in g.outputs):
                bad.append(f"{op.kind} output '{t.name}' is {t.dtype}")
    return bad


def quantize_int16x8(loaded: LoadedModel, calib: Samples, *, input_type: str = "int16", output_type: str = "int16",
                     per_channel: bool = True, progress: Callable[[int, int], None] | None = None) -> bytes:
    """16x8 TFLite bytes of a Keras model / SavedModel calibrated on ``calib``; weights per channel unless
    ``per_channel`` is False."""
    if loaded.kind == "tflite":
        raise EdgeqError(f"{loaded.path} is already a TFLite model; edgeq quantizes Keras models and "
                         "SavedModels only", hint="pass the Keras model (.keras/.h5) it came from")
    import_tf()
    with quiet_tf(), tempfile.TemporaryDirectory(prefix="edgeq-quant16-") as tmp:
        converter, _ = calibrating_converter(loaded, calib, Path(tmp), progress, calib.count)
        converter_settings(converter, input_type, output_type)
        if not per_channel:
            converter._experimental_disable_per_channel = True
        data = run_converter(converter, loaded, "int16x8 quantization")
    problems = int16x8_problems(data)
    if problems:
        raise EdgeqError(f"the TFLite converter did not fully quantize {loaded.path} to int16x8",
                         detail=problems, hint="some layers have no 16x8 kernel in TFLite")
    return data
