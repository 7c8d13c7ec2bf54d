"""Full-integer (int8) post-training quantization with the TFLite converter.

:func:`quantize` turns a Keras model or SavedModel, calibrated on samples read by
:func:`edgeq.frontend.data.load_calibration`, into an int8 TFLite model (int8 inputs and outputs, batch 1),
:func:`float_tflite_bytes` gives the unquantized float32 conversion (to report the float size), and
:func:`ensure_int8` accepts a ``.tflite`` file only if it is already fully int8. Where the converter leaves
ops in float32 (it has no int8 kernel for them) the int8 model with those float ops is the result
(:func:`mixed_int8_float32`); anything else that is not int8 is refused.

Every conversion goes through a temporary SavedModel whose serving signature has batch size 1, so the
TFLite model has static batch-1 inputs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate
from edgeq.frontend.data import Samples, check_samples, loaded_inputs, signature_name, static_shape
from edgeq.frontend.load import LoadedModel, serving_signature, signature_inputs
from edgeq.frontend.runtime import error_line, import_keras, import_tf, quiet_tf
from edgeq.frontend.tflite.kind import int8_problems, tflite_scheme
from edgeq.frontend.tflite.reader import read_tflite

# --------------------------------------------------------------------------------------------------
# Conversion


def quantize(
    loaded: LoadedModel,
    calib: Samples,
    *,
    per_channel: bool = True,
    progress: Callable[[int, int], None] | None = None,
    input_type: str = "int8",
    output_type: str = "int8",
    calibration: str = "minmax",
) -> bytes:
    """Full-integer post-training quantization: int8 TFLite bytes with int8 inputs/outputs, batch 1.

    Weights are quantized per channel unless ``per_channel`` is False (then per tensor).
    ``calibration`` picks the activation ranges (:mod:`edgeq.frontend.calibrate`): "minmax" (the
    converter's own), "percentile[:P]", "mse" or "entropy"; the others observe the float model on the
    calibration data a second time and hand their ranges to the converter's quantizer.
    ``input_type`` / ``output_type`` ("int8", "uint8" or "float32") set the model's I/O type; other than
    int8, the converter adds QUANTIZE / DEQUANTIZE ops at the boundary.
    ``progress(done, total)`` is called after each calibration sample is fed to the converter.
    """
    if loaded.kind == "tflite":
        raise EdgeqError(
            f"{loaded.path} is already a TFLite model; edgeq quantizes Keras models and SavedModels only",
            hint="pass an int8 .tflite as it is, or the Keras model (.keras/.h5) it came from",
        )
    method = calibrate.parse_method(calibration)
    tf = import_tf()
    # the other methods observe the float model on the data again (entropy twice)
    total = calib.count * (1 if method.kind == "minmax" else 1 + calibrate.observation_passes([method]))

    with quiet_tf(), tempfile.TemporaryDirectory(prefix="edgeq-quant-") as tmp:
        converter, names = calibrating_converter(loaded, calib, Path(tmp), progress, total)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, input_type)
        converter.inference_output_type = getattr(tf, output_type)
        if not per_channel:
            converter._experimental_disable_per_channel = True
        data = run_converter(converter, loaded, "int8 quantization", ranges=None if method.kind == "minmax" else method)
    problems = int8_problems(data, f"the int8 conversion of {loaded.path}", (input_type, output_type))
    if problems and not mixed_int8_float32(data, (input_type, output_type)):
        raise EdgeqError(
            f"the TFLite converter did not fully quantize {loaded.path} to int8",
            detail=problems,
            hint="some layers have no int8 kernel in TFLite; replace them in the Keras model",
        )
    return data


def mixed_int8_float32(data: bytes, io_types: tuple[str, str] = ("int8", "int8")) -> bool:
    """Whether a conversion that is not fully int8 is int8 with some ops left in float32 (between DEQUANTIZE and
    QUANTIZE ops, where TFLite has no int8 kernel: Keras 3's LayerNormalization, elu), with inputs and outputs
    of the types asked for: the mixed scheme the C backend deploys (float islands as tables, see
    :mod:`edgeq.frontend.islands`)."""
    if tflite_scheme(data) != "int8+float32":
        return False
    g = read_tflite(data)
    for tids, want in ((g.inputs, io_types[0]), (g.outputs, io_types[1])):
        for tid in tids:
            t = g.tensor(tid)
            if t.dtype != want and not (tids is g.inputs and t.dtype in ("int32", "int64") and t.quant is None):
                return False
    return True


def float_tflite_bytes(loaded: LoadedModel) -> bytes:
    """The float32 TFLite conversion (batch 1, no quantization), e.g. to report the float model size.

    For a float ``.tflite`` file these are its bytes; an int8 ``.tflite`` has no float form.
    """
    if loaded.kind == "tflite":
        assert loaded.tflite_bytes is not None
        if not int8_problems(loaded.tflite_bytes, str(loaded.path)):
            raise EdgeqError(
                f"{loaded.path} is an int8 TFLite model; there is no float model to convert",
                hint="pass the Keras model (.keras/.h5) to compare float and int8 sizes",
            )
        return loaded.tflite_bytes
    tf = import_tf()
    with quiet_tf(), tempfile.TemporaryDirectory(prefix="edgeq-float-") as tmp:
        export_batch1(loaded, Path(tmp) / "saved_model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "saved_model"))
        return run_converter(converter, loaded, "float conversion")


def calibrating_converter(loaded: LoadedModel, calib: Samples, tmp: Path,
                          progress: Callable[[int, int], None] | None, total: int) -> tuple[Any, list[str]]:
    """Export ``loaded`` with batch 1 under ``tmp`` and open a TFLiteConverter on it whose representative
    dataset feeds ``calib``'s samples (calling ``progress(done, total)`` after each). Returns the
    converter, to be configured by the caller, and the signature's input names."""
    check_samples(calib, loaded_inputs(loaded))
    check_memory(loaded)
    tf = import_tf()
    names = export_batch1(loaded, tmp / "saved_model")

    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved_model"))
    converter.representative_dataset = Representative(names, calib, total, progress)
    return converter, names


BYTES_PER_WEIGHT = 70  # peak memory of a calibrating conversion per model weight: 4.5 GB for 67 M (one Dense)
BASE_BYTES = 1 << 30  # and beside it: TensorFlow, edgeq, the worker (0.9 GB for 4.6 M weights)


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (MemAvailable), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(loaded: LoadedModel) -> None:
    """Refuse, before TensorFlow starts, a Keras model whose conversion would need more memory than the
    system has available (measured: about :data:`BYTES_PER_WEIGHT` per weight plus :data:`BASE_BYTES`):
    otherwise the kernel's OOM killer ends the conversion, or another process. ``EDGEQ_MEMORY_CHECK=off``
    skips the check."""
    if loaded.keras_model is None or os.environ.get("EDGEQ_MEMORY_CHECK") == "off":
        return
    available = available_memory()
    if available is None:
        return
    weights = int(loaded.keras_model.count_params())
    need = BASE_BYTES + BYTES_PER_WEIGHT * weights
    if need > available:
        gb = 1 << 30
        raise EdgeqError(
            f"converting {loaded.path} needs about {need / gb:.1f} GB of memory ({weights:,} weights), and "
            f"{available / gb:.1f} GB are available",
            hint="free memory (close other programs), or use a machine with more; a model this size does not fit "
                 "a microcontroller anyway. EDGEQ_MEMORY_CHECK=off converts regardless",
        )


def export_batch1(loaded: LoadedModel, directory: Path) -> list[str]:
    """Write ``loaded`` as a SavedModel whose serving signature takes batch-1 inputs.

    Returns the signature's input names (:func:`signature_names`), in the model's input order.

    TensorFlow traces and saves the model in edgeq's worker (:mod:`edgeq.isolation`): the in-memory model
    goes there pickled (Keras 3 pickles a model as its ``.keras`` archive), so a model built or rebuilt in
    memory is exported as it is. A model Keras cannot serialize (a custom layer without ``get_config``) is
    exported in edgeq's own process, as before the worker existed.
    """
    for shape, name in zip(loaded.input_shapes, loaded.input_names):
        static_shape(shape, repr(name), f"model {loaded.path}")
    if isolation.isolation_mode() == "process" and _picklable(loaded):
        return isolation.call("edgeq.frontend.convert:export_batch1_here", loaded, str(directory),
                              stage=f"the batch-1 export of {loaded.path}", tool="TensorFlow")
    return export_batch1_here(loaded, str(directory))


def _picklable(loaded: LoadedModel) -> bool:
    try:
        pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # Keras raises many types for a model it cannot serialize
        return False
    return True


def export_batch1_here(loaded: LoadedModel, directory: str) -> list[str]:
    """In this process (edgeq's worker, or edgeq's own): what :func:`export_batch1` describes."""
    directory = Path(directory)
    try:
        if loaded.kind == "savedmodel":
            return _resave_batch1(loaded, directory)
        return _export_keras_batch1(loaded, directory)
    except EdgeqError:
        raise
    except Exception as error:  # tracing/saving raises many types; each becomes one message
        raise EdgeqError(
            f"TensorFlow could not trace {loaded.path} into a graph with batch size 1",
            detail=[error_line(error, last=True)],
            hint="check that the model runs on one sample: model(x[:1])",
        ) from None


def _resave_batch1(loaded: LoadedModel, directory: Path) -> list[str]:
    tf = import_tf()
    saved = tf.saved_model.load(str(loaded.saved_model_dir))
    signature = serving_signature(saved, loaded.path)
    inputs = signature_inputs(signature)
    fixed = [tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=name) for name, spec in inputs.items()]
    names = list(inputs)

    @tf.function(input_signature=fixed)
    def serve(*args: Any) -> Any:
        return signature(**dict(zip(names, args)))

    module = tf.Module()
    module.saved = saved
    module.serve = serve
    tf.saved_model.save(module, str(directory), signatures={"serving_default": serve})
    return names


def _export_keras_batch1(loaded: LoadedModel, directory: Path) -> list[str]:
    tf, keras = import_tf(), import_keras()
    model = loaded.keras_model
    assert model is not None, "a Keras-kind LoadedModel carries its Keras model"
    names = signature_names(loaded)
    specs = [
        tf.TensorSpec((1, *shape), tf.as_dtype(dtype), name=name)
        for shape, dtype, name in zip(loaded.input_shapes, loaded.input_dtypes, names)
    ]
    structure: Any = specs[0] if len(specs) == 1 else specs
    if len(specs) > 1 and isinstance(model, keras.Model) and isinstance(getattr(model, "input", None), dict):
        by_name = dict(zip(loaded.input_names, specs))
        structure = {key: by_name[tensor.name] for key, tensor in model.input.items()}
    model.export(str(directory), input_signature=[structure], verbose=False)
    return names


def signature_names(loaded: LoadedModel) -> list[str]:
    """The input names of the batch-1 serving signature :func:`export_batch1` writes, in the model's input
    order: a SavedModel's own, a Keras model's input names made valid TensorFlow tensor names."""
    if loaded.kind == "savedmodel":
        return list(loaded.input_names)
    return [signature_name(name) for name in loaded.input_names]


# What edgeq sets on a converter, copied to the worker's converter by :func:`run_converter`.
CONVERTER_SETTINGS = ("optimizations", "inference_input_type", "inference_output_type",
                      "_experimental_disable_per_channel", "_experimental_calibrate_only")
TARGET_SPEC_SETTINGS = ("supported_ops", "supported_types")


class Representative:
    """A converter's representative dataset: ``calib``'s samples keyed by the signature's input ``names``.
    After each sample it reports ``("progress", done, total)`` (from edgeq's worker, see
    :mod:`edgeq.isolation`), which :func:`run_converter` hands to ``progress``."""

    def __init__(self, names: list[str], calib: Samples, total: int,
                 progress: Callable[[int, int], None] | None) -> None:
        self.names, self.calib, self.total, self.progress = names, calib, total, progress

    def __call__(self) -> Iterator[dict[str, np.ndarray]]:
        for done, sample in enumerate(self.calib.samples(), start=1):
            yield dict(zip(self.names, sample))
            isolation.report(("progress", done, self.total))

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, progress=None)  # the callback stays with edgeq

    def on_report(self, value: Any) -> None:
        if self.progress is not None and isinstance(value, tuple) and value[0] == "progress":
            self.progress(value[1], value[2])


def run_converter(converter: Any, loaded: LoadedModel, step: str, *, ranges: calibrate.Method | None = None) -> bytes:
    """``converter.convert()`` in edgeq's worker process (:mod:`edgeq.isolation`: a converter crash is an
    EdgeqError, not the end of edgeq): a converter is opened there on the same SavedModel with the same
    settings (:data:`CONVERTER_SETTINGS`) and representative dataset (a :class:`Representative`).
    ``ranges``: a calibration method other than minmax, whose ranges replace the converter's before its
    quantizer runs (:func:`edgeq.frontend.calibrate.patched_quantizer`). An EdgeqError naming the converter's
    telling lines if it fails (``step`` is what was being done, e.g. "int8 quantization")."""
    settings = {name: getattr(converter, name) for name in CONVERTER_SETTINGS}
    spec = {name: getattr(converter.target_spec, name) for name in TARGET_SPEC_SETTINGS}
    representative = converter.representative_dataset
    assert representative is None or isinstance(representative, Representative), "see calibrating_converter"
    try:
        return isolation.call("edgeq.frontend.convert:convert_here", str(converter.saved_model_dir), settings, spec,
                              representative, ranges, str(loaded.path), step, stage=f"the {step} of {loaded.path}",
                              tool="the TFLite converter",
                              on_report=representative.on_report if representative is not None else None)
    except isolation.WorkerCrashed as crash:
        layer = converted_layer(crash.log)
        raise crash.located(f"near {layer!r} (the last layer in its output)") if layer else crash from None


def convert_here(saved_model_dir: str, settings: dict[str, Any], spec: dict[str, Any],
                 representative: Representative | None, ranges: calibrate.Method | None, name: str,
                 step: str) -> bytes:
    """In this process (edgeq's worker): the conversion :func:`run_converter` describes."""
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    for key, value in settings.items():
        setattr(converter, key, value)
    for key, value in spec.items():
        setattr(converter.target_spec, key, value)
    rewrite = contextlib.nullcontext()
    if representative is not None:
        converter.representative_dataset = representative
        if ranges is not None:
            calib, total = representative.calib, representative.total
            rewrite = calibrate.patched_quantizer(calibrate.range_rewriter(
                ranges, calib.inputs, input_names=representative.names,
                progress=lambda done, _: isolation.report(("progress", calib.count + done, total))))
    with quiet_tf() as native_log, rewrite:
        try:
            return bytes(converter.convert())
        except Exception as error:  # the converter raises many types; each becomes one message
            raise EdgeqError(
                f"the TFLite converter failed on {name} ({step})",
                detail=converter_messages(str(error) + "\n" + native_log()),
                hint="the model probably uses an op TFLite cannot convert"
                + (" or quantize to int8" if "int8" in step else "")
                + "; replace that layer in the Keras model",
            ) from None


def converted_layer(log: Path | None) -> str | None:
    """The last layer the converter named in its output (an MLIR location: ``loc(fused["Op:",
    "model/layer/op@function"])``), from a crashed worker's log."""
    try:
        text = log.read_text("utf-8", "replace") if log is not None else ""
    except OSError:
        return None
    for line in reversed(text.splitlines()):
        if "loc(" in line:
            names = [n.split("@")[0] for n in re.findall(r'"([^"]+)"', line[line.index("loc("):])
                     if not n.endswith(":")]
            if names:
                return names[0]
    return None


def converter_messages(text: str) -> list[str]:
    """The telling lines of the TFLite converter's output.

    Its last specific ``error:`` line (without the MLIR location), else its last line, plus the
    converter's ``Custom ops: ...`` / ``Flex ops: ...`` lists naming the ops it could not convert.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [_strip_location(line[line.index("error:") + len("error:") :]) for line in lines if "error:" in line]
    specific = [line for line in errors if line and not line.endswith(":") and "failed while converting" not in line]
    messages = [specific[-1] if specific else lines[-1] if lines else "(no message)"]
    ops = [line for line in lines if line.startswith(("Custom ops:", "Flex ops:"))]
    return messages + list(dict.fromkeys(ops))


def _strip_location(message: str) -> str:
    """``loc(...): msg`` -> ``msg`` (MLIR prefixes diagnostics with a nested-parentheses location)."""
    message = message.strip()
    if not message.startswith("loc("):
        return message
    depth = 0
    for i, char in enumerate(message):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char == ")":
            return message[i + 1 :].lstrip(": ").strip()
    return message
