"""Calibrate once, quantize many times: int8 models with chosen ops left in float32.

:func:`calibrate` runs the TFLite converter's calibration only: the result is the float32 TFLite model with
the observed range of every tensor recorded in it (it still runs as a float model, so it is also the float
reference whose tensor names the int8 model shares). :func:`quantize_calibrated` turns it into an int8
model with the MLIR quantizer, the same quantizer the converter uses, leaving the ops named in
``keep_float`` in float32 (the quantizer's ``denylisted_nodes``: the converter adds a DEQUANTIZE before and
a QUANTIZE after each such op). Model inputs and outputs stay int8. With nothing kept float the ops,
tensors and weights are those of :func:`edgeq.frontend.convert.quantize` (only the flatbuffer metadata
differs), so ``edgeq quantize`` without ``--keep-float`` still uses that path.

:func:`model_ops` lists a model's ops by output tensor name (the quantizer's key); the quantizer ignores
the request for ops whose output must share its input's scale or has a fixed one (MAX_POOL_2D, SOFTMAX),
:func:`float_op_names` tells which ops of a model did stay float. :func:`tflite_scheme` tells what kind of
model a ``.tflite`` file is.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.calibrate import parse_method, range_rewriter
from edgeq.frontend.convert import calibrating_converter, run_converter
from edgeq.frontend.data import Samples
from edgeq.frontend.load import LoadedModel
from edgeq.frontend.runtime import import_tf, quiet_tf
from edgeq.frontend.tflite.kind import tflite_interpreter


@dataclass(frozen=True)
class FloatOp:
    """An op of the calibrated float model: its index, kind and output tensor name (the quantizer's key)."""

    index: int
    kind: str
    name: str


def calibrate(loaded: LoadedModel, calib: Samples, *, calibration: str = "minmax",
              progress: Callable[[int, int], None] | None = None) -> bytes:
    """The float32 TFLite model (batch 1) with every tensor's calibrated range recorded in it.

    ``calibration`` picks the ranges (:mod:`edgeq.frontend.calibrate`): "minmax" is the converter's own;
    the other methods observe the float model on the calibration data again and rewrite the ranges.
    """
    method = parse_method(calibration)
    if loaded.kind == "tflite":
        raise EdgeqError(
            f"{loaded.path} is already a TFLite model; partial quantization and sensitivity analysis need "
            "the float model",
            hint="pass the Keras model (.keras/.h5) or SavedModel it came from",
        )
    tf = import_tf()
    with quiet_tf(), tempfile.TemporaryDirectory(prefix="edgeq-calib-") as tmp:
        converter, names = calibrating_converter(loaded, calib, Path(tmp), progress, calib.count)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        converter._experimental_calibrate_only = True
        calibrated = run_converter(converter, loaded, "int8 calibration")
    if method.kind != "minmax":
        calibrated = range_rewriter(method, calib.inputs, input_names=names)(calibrated)
    return calibrated


def quantize_calibrated(calibrated: bytes, keep_float: Sequence[str] = (), *, per_channel: bool = True) -> bytes:
    """int8 TFLite bytes (int8 inputs and outputs) from a calibrated model; ops named in ``keep_float``
    (output tensor names, see :func:`model_ops`) stay float32 between a DEQUANTIZE and a QUANTIZE. The
    quantizer runs in edgeq's worker process (:mod:`edgeq.isolation`)."""
    return isolation.call("edgeq.frontend.partial:quantize_calibrated_here", bytes(calibrated), list(keep_float),
                          per_channel, stage="the int8 quantization of the calibrated model",
                          tool="the TFLite quantizer")


def quantize_calibrated_here(calibrated: bytes, keep_float: list[str], per_channel: bool) -> bytes:
    """:func:`quantize_calibrated` in this process (edgeq's worker)."""
    tf = import_tf()
    from tensorflow.lite.python import convert, lite

    with quiet_tf() as native_log:
        try:
            data = convert.mlir_quantize(
                bytes(calibrated), not per_channel, input_data_type=tf.int8, output_data_type=tf.int8,
                denylisted_nodes=list(keep_float) or None)
        except Exception as error:  # noqa: BLE001 - the quantizer raises many types; each becomes one message
            raise EdgeqError("the TFLite quantizer failed on the calibrated model",
                             detail=[str(error).strip().splitlines()[-1] if str(error).strip() else
                                     native_log().strip()[-200:]]) from None
        return bytes(lite._deduplicate_readonly_buffers(data))


def model_ops(model: bytes) -> list[FloatOp]:
    """Every op of a TFLite model: index, kind and the name of its (first) output tensor."""
    it = tflite_interpreter(model)
    names = {d["index"]: d["name"] for d in it.get_tensor_details()}
    return [FloatOp(o["index"], o["op_name"], names[o["outputs"][0]]) for o in it.invoke("_get_ops_details")]


def float_op_names(model: bytes) -> set[str]:
    """Output names of the ops of ``model`` that compute in float32 (not counting QUANTIZE/DEQUANTIZE)."""
    it = tflite_interpreter(model)
    details = {d["index"]: d for d in it.get_tensor_details()}
    return {details[o["outputs"][0]]["name"] for o in it.invoke("_get_ops_details")
            if o["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
            and np.dtype(details[o["outputs"][0]]["dtype"]) == np.float32}


# --- what a .tflite file is -----------------------------------------------------------------------
