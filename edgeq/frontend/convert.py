"""Calibration data and full-integer (int8) post-training quantization with the TFLite converter.

:func:`load_calibration` reads and checks the calibration samples, :func:`quantize` turns a Keras model
or SavedModel into an int8 TFLite model (int8 inputs and outputs, batch size 1),
:func:`float_tflite_bytes` gives the unquantized float32 conversion (to report the float size), and
:func:`ensure_int8` accepts a ``.tflite`` file only if it is already fully int8.

Every conversion goes through a temporary SavedModel whose serving signature has batch size 1, so the
TFLite model has static batch-1 inputs.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.load import LoadedModel, Shape, format_shape, serving_signature, signature_inputs
from edgeq.frontend.runtime import error_line, import_keras, import_tf, quiet_tf
from edgeq.frontend.tflite.kind import int8_problems

CALIBRATION_FORMATS = ".npy, .npz, .bin (raw float32 little-endian) or 'random'"
_TF_NAME_INVALID = re.compile(r"[^A-Za-z0-9_.\-/]")


@dataclass(frozen=True)
class CalibrationData:
    """Calibration samples: ``inputs[i]`` is an ``(N, *input_shapes[i])`` array for model input ``i``.

    ``representative`` is False for random data, and ``warning`` then says so; ``notes`` tell what was
    done to the data (a single sample given a batch dimension, integers cast to float32...).
    """

    source: str
    inputs: list[np.ndarray]
    representative: bool
    warning: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """The number of samples N."""
        return int(self.inputs[0].shape[0])

    def samples(self) -> Iterator[list[np.ndarray]]:
        """The samples one at a time, each input with a batch dimension of 1."""
        for i in range(self.count):
            yield [array[i : i + 1] for array in self.inputs]


# --------------------------------------------------------------------------------------------------
# Calibration data


def load_calibration(
    spec: str | os.PathLike[str],
    input_shapes: Sequence[Shape],
    input_dtypes: Sequence[np.dtype],
    *,
    input_names: Sequence[str] | None = None,
    random_range: tuple[float, float] = (-1.0, 1.0),
    random_count: int = 100,
    seed: int = 0,
) -> CalibrationData:
    """Read calibration data for a model with the given per-sample input shapes and dtypes.

    ``spec`` is a ``.npy`` file (an ``(N, *shape)`` array), a ``.npz`` file (key ``x``, its only array,
    or one key per model input name), a ``.bin`` file of raw little-endian float32 values (reshaped to
    ``(N, *shape)``), or ``"random"``: ``random_count`` samples uniform in ``random_range`` (not
    representative: accuracy numbers measured with them mean nothing). ``input_names`` (the model's)
    are needed only to read a multi-input ``.npz``. An array of exactly one sample's shape is taken as
    N=1. Integer data is cast to the model's float dtype.
    """
    shapes = [tuple(shape) for shape in input_shapes]
    dtypes = [np.dtype(dtype) for dtype in input_dtypes]
    names = list(input_names) if input_names is not None else [f"input_{i}" for i in range(len(shapes))]
    if not shapes or len(dtypes) != len(shapes) or len(names) != len(shapes):
        raise ValueError("input_shapes, input_dtypes and input_names must describe the same inputs")
    if str(spec) == "random":
        return _random_calibration(shapes, dtypes, names, random_range, random_count, seed)
    path = Path(spec)
    if not path.is_file():
        problem = "does not exist" if not path.exists() else "is not a file"
        raise EdgeqError(
            f"calibration file {path} {problem}",
            hint=f"pass a calibration file ({CALIBRATION_FORMATS})",
        )
    suffix = path.suffix.lower()
    if suffix == ".npy":
        raw = {"": _read_npy(path, len(shapes))}
    elif suffix == ".npz":
        raw = _read_npz(path, names)
    elif suffix == ".bin":
        raw = {"": _read_bin(path, shapes)}
    else:
        raise EdgeqError(
            f"calibration file {path}: unknown format {suffix or '(no extension)'!r}",
            detail=[f"supported: {CALIBRATION_FORMATS}"],
            hint="save the samples with numpy.save('calib.npy', x), x of shape (N, *input_shape)",
        )
    arrays: list[np.ndarray] = []
    notes: list[str] = []
    for (key, array), shape, dtype, name in zip(raw.items(), shapes, dtypes, names):
        what = f"calibration data {path}" + (f" key {key!r}" if key else "")
        checked, note = _check_array(array, shape, dtype, what, name if len(shapes) > 1 else None)
        arrays.append(checked)
        notes += [note] if note else []
    counts = {array.shape[0] for array in arrays}
    if len(counts) > 1:
        raise EdgeqError(
            f"calibration data {path} has different sample counts per input: "
            + ", ".join(f"{name}: {array.shape[0]}" for name, array in zip(names, arrays)),
            hint="give every input the same number of samples N",
        )
    return CalibrationData(source=str(path), inputs=arrays, representative=True, notes=tuple(notes))


def _random_calibration(
    shapes: list[Shape],
    dtypes: list[np.dtype],
    names: list[str],
    random_range: tuple[float, float],
    count: int,
    seed: int,
) -> CalibrationData:
    low, high = (float(v) for v in random_range)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise EdgeqError(f"random calibration range {random_range} is not a finite range low < high")
    if count < 1:
        raise EdgeqError(f"random calibration needs at least 1 sample, got {count}")
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, dtype, name in zip(shapes, dtypes, names):
        static = _static(shape, name, "random calibration data")
        samples = rng.uniform(low, high, size=(count, *static))
        arrays.append(samples.astype(dtype if dtype.kind in "iu" else np.float32))
    warning = (
        f"calibration data is random (uniform in [{low:g}, {high:g}]), NOT representative of real inputs: "
        "the int8 scales are guesses and accuracy numbers measured with it are meaningless"
    )
    return CalibrationData(source="random", inputs=arrays, representative=False, warning=warning)


def _read_npy(path: Path, n_inputs: int) -> np.ndarray:
    if n_inputs > 1:
        raise EdgeqError(
            f"calibration file {path} is a single .npy array but the model has {n_inputs} inputs",
            hint="save one array per input name in an .npz: numpy.savez('calib.npz', name1=x1, name2=x2)",
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise EdgeqError(
            f"calibration file {path} is not a readable .npy array ({error_line(error)})",
            hint="write it with numpy.save('calib.npy', x)",
        ) from None
    return np.asarray(array)


def _read_npz(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    import zipfile

    if not zipfile.is_zipfile(path):  # numpy would guess "pickled data" for any non-zip bytes
        raise EdgeqError(f"calibration file {path} is not a readable .npz archive (not a zip file)",
                         hint="write it with numpy.savez('calib.npz', x=x)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: np.asarray(archive[key]) for key in archive.files}
    except (ValueError, OSError, EOFError) as error:
        raise EdgeqError(
            f"calibration file {path} is not a readable .npz archive ({error_line(error)})",
            hint="write it with numpy.savez('calib.npz', x=x)",
        ) from None
    if all(name in arrays for name in names):
        return {name: arrays[name] for name in names}
    if len(names) == 1:
        if "x" in arrays:
            return {"x": arrays["x"]}
        if len(arrays) == 1:
            return arrays
    raise EdgeqError(
        f"calibration file {path} has arrays {sorted(arrays) or '(none)'}; cannot tell which feeds "
        + (f"the model input {names[0]!r}" if len(names) == 1 else f"each of the model inputs {names}"),
        hint="store the samples under the key 'x'"
        if len(names) == 1
        else "store one array per model input, keyed by input name: numpy.savez(path, "
        + ", ".join(f"{n}=..." for n in names)
        + ")",
    )


def _read_bin(path: Path, shapes: list[Shape]) -> np.ndarray:
    if len(shapes) > 1:
        raise EdgeqError(
            f"calibration file {path} is raw .bin data but the model has {len(shapes)} inputs",
            hint="save one array per input name in an .npz file",
        )
    shape = _static(shapes[0], "the model input", f"raw calibration file {path}")
    size = path.stat().st_size
    if size == 0:
        raise EdgeqError(f"calibration file {path} is empty (0 bytes)", hint="give at least one sample")
    per_sample = int(np.prod(shape, dtype=np.int64))
    if size % 4 or (size // 4) % per_sample:
        raise EdgeqError(
            f"calibration file {path} has {size} bytes, which is not a whole number of samples: one sample "
            f"of shape {format_shape(shape)} is {per_sample} float32 values = {4 * per_sample} bytes",
            hint="a .bin file must hold N samples of raw little-endian float32, nothing else",
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, *shape)


def _check_array(
    array: np.ndarray, shape: Shape, dtype: np.dtype, what: str, input_name: str | None
) -> tuple[np.ndarray, str | None]:
    """Check one input's samples against the model input; returns them as ``(N, *shape)`` of ``dtype``."""
    model_input = "the model input" + (f" {input_name!r}" if input_name else "")
    if array.dtype.kind not in "fiu":
        raise EdgeqError(
            f"{what} has dtype {array.dtype}; {model_input} takes {dtype.name} numbers",
            hint="save the samples as a float32 array",
        )
    if array.size == 0:
        raise EdgeqError(f"{what} is empty (shape {format_shape(array.shape)})", hint="give at least one sample")
    note = None
    if array.ndim == len(shape) and _matches(array.shape, shape):
        array = array[np.newaxis]
        note = f"{what} has the shape of one sample {format_shape(shape)}; used as N=1"
    elif array.ndim != len(shape) + 1 or not _matches(array.shape[1:], shape):
        raise EdgeqError(
            f"{what} has shape {format_shape(array.shape)} but {model_input} is {format_shape(shape)} "
            f"per sample; expected {format_shape(('N', *shape))}",
            hint="reshape the samples to (N, *input_shape), in the model's layout (e.g. channels last)",
        )
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argwhere(bad.reshape(len(array), -1).any(axis=1))[0, 0])
            raise EdgeqError(
                f"{what} contains {int(bad.sum())} NaN/Inf value(s) (first in sample {first})",
                hint="clean or drop those samples; calibration needs finite values",
            )
        if dtype.kind in "iu" and not np.array_equal(array, np.round(array)):
            raise EdgeqError(f"{what} has fractional values but {model_input} takes {dtype.name}")
    return array.astype(dtype if dtype.kind in "iu" else np.float32), note


def _matches(actual: Sequence[int], expected: Shape) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _static(shape: Shape, name: str, what: str) -> tuple[int, ...]:
    """``shape`` with its type narrowed to ints; an EdgeqError if a dimension is unknown (``None``)."""
    static = tuple(d for d in shape if d is not None)
    if len(static) != len(shape):
        raise EdgeqError(
            f"{what}: {name} has a variable dimension, shape {format_shape(shape)}",
            hint="give the model a fixed input shape (microcontroller code needs static shapes)",
        )
    return static


# --------------------------------------------------------------------------------------------------
# Conversion


def quantize(
    loaded: LoadedModel,
    calib: CalibrationData,
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
    check_calibration_shapes(loaded, calib)
    from edgeq.frontend import calibrate

    method = calibrate.parse_method(calibration)
    tf = import_tf()
    # the other methods observe the float model on the data again (entropy twice)
    total = calib.count * (1 if method.kind == "minmax" else 1 + calibrate.observation_passes([method]))

    with quiet_tf() as native_log, tempfile.TemporaryDirectory(prefix="edgeq-quant-") as tmp:
        converter, signature_names = calibrating_converter(loaded, calib, Path(tmp), progress, total)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, input_type)
        converter.inference_output_type = getattr(tf, output_type)
        if not per_channel:
            converter._experimental_disable_per_channel = True
        ranges = contextlib.nullcontext()
        if method.kind != "minmax":
            observed = (lambda done, _: progress(calib.count + done, total)) if progress is not None else None
            ranges = calibrate.patched_quantizer(calibrate.range_rewriter(
                method, calib.inputs, input_names=signature_names, progress=observed))
        with ranges:
            data = _convert(converter, loaded, "int8 quantization", native_log)
    problems = int8_problems(data, f"the int8 conversion of {loaded.path}", (input_type, output_type))
    if problems:
        raise EdgeqError(
            f"the TFLite converter did not fully quantize {loaded.path} to int8",
            detail=problems,
            hint="some layers have no int8 kernel in TFLite; replace them in the Keras model",
        )
    return data


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
    with quiet_tf() as native_log, tempfile.TemporaryDirectory(prefix="edgeq-float-") as tmp:
        _export_batch1(loaded, Path(tmp) / "saved_model")
        converter = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "saved_model"))
        return _convert(converter, loaded, "float conversion", native_log)


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


def check_calibration_shapes(loaded: LoadedModel, calib: CalibrationData) -> None:
    if len(calib.inputs) != len(loaded.input_shapes) or any(
        not _matches(a.shape[1:], s) for a, s in zip(calib.inputs, loaded.input_shapes)
    ):
        raise ValueError("calibration data was loaded for different input shapes than this model's")


def calibrating_converter(loaded: LoadedModel, calib: CalibrationData, tmp: Path,
                          progress: Callable[[int, int], None] | None, total: int) -> tuple[Any, list[str]]:
    """Export ``loaded`` with batch 1 under ``tmp`` and open a TFLiteConverter on it whose representative
    dataset feeds ``calib``'s samples (calling ``progress(done, total)`` after each). Returns the
    converter, to be configured by the caller, and the signature's input names."""
    tf = import_tf()
    names = _export_batch1(loaded, tmp / "saved_model")

    def representative_dataset() -> Iterator[dict[str, np.ndarray]]:
        for done, sample in enumerate(calib.samples(), start=1):
            yield dict(zip(names, sample))
            if progress is not None:
                progress(done, total)

    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved_model"))
    converter.representative_dataset = representative_dataset
    return converter, names


def _export_batch1(loaded: LoadedModel, directory: Path) -> list[str]:
    """Write ``loaded`` as a SavedModel whose serving signature takes batch-1 inputs.

    Returns the signature's input names, in the model's input order.
    """
    for shape, name in zip(loaded.input_shapes, loaded.input_names):
        _static(shape, repr(name), f"model {loaded.path}")
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
    names = [_tf_name(name) for name in loaded.input_names]
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


def _tf_name(name: str) -> str:
    """``name`` made a valid TensorFlow tensor name (letters, digits, ``_.-/``, not starting with ``_-/``)."""
    name = _TF_NAME_INVALID.sub("_", name)
    return name if name[:1].isalnum() or name[:1] == "." else f"input{name}"


def _convert(converter: Any, loaded: LoadedModel, step: str, native_log: Callable[[], str]) -> bytes:
    try:
        return bytes(converter.convert())
    except Exception as error:  # the converter raises many types; each becomes one message
        raise EdgeqError(
            f"the TFLite converter failed on {loaded.path} ({step})",
            detail=converter_messages(str(error) + "\n" + native_log()),
            hint="the model probably uses an op TFLite cannot convert"
            + (" or quantize to int8" if "int8" in step else "")
            + "; replace that layer in the Keras model",
        ) from None


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
