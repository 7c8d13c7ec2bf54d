"""Load a user's model file: Keras (``.keras``, ``.h5``), a TensorFlow SavedModel directory, or ``.tflite``.

:func:`load_model` returns a :class:`LoadedModel` that names the model's kind, holds what later stages
need (the Keras model, the SavedModel directory or the TFLite bytes) and describes the inputs.

``input_shapes`` are *per-sample* shapes: the leading batch dimension is removed. It is ``None`` in a
Keras model, ``None`` or ``1`` in a SavedModel signature, ``-1`` or ``1`` in a TFLite file; any other
leading dimension (or a scalar input) is rejected, because the generated C runs one sample at a time.
Other unknown dimensions stay ``None``.

Keras 2 HDF5 files often carry config keys Keras 3 no longer accepts (``groups`` on
``DepthwiseConv2D``, ``fused`` on ``BatchNormalization``, ...). When plain Keras 3 refuses a file,
the model config is cleaned of every key the layer's Keras 3 constructor does not take, and the file
is loaded again from a patched temporary copy; the dropped keys are listed in ``LoadedModel.notes``.

TensorFlow and Keras are imported inside functions: importing them takes seconds.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeq.errors import EdgeqError

ModelKind = Literal["keras", "h5", "savedmodel", "tflite"]
Shape = tuple[int | None, ...]

TFLITE_FILE_IDENTIFIER = b"TFL3"
"""The FlatBuffer file identifier of a TFLite model, at bytes 4..8 of the file."""

_EXTENSIONS: dict[str, ModelKind] = {".keras": "keras", ".h5": "h5", ".hdf5": "h5", ".tflite": "tflite"}
_SUPPORTED = ".keras, .h5/.hdf5, .tflite, or a TensorFlow SavedModel directory"
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# Keys Keras 3 itself translates from Keras 2 configs before calling a layer's constructor.
_TRANSLATED_KEYS = frozenset({"input_dim", "input_shape", "batch_input_shape"})
# Config keys that hold nested layer configs (models' layer lists, wrappers' inner layers).
_NESTED_LAYER_KEYS = ("layers", "layer", "forward_layer", "backward_layer")


@dataclass(frozen=True)
class LoadedModel:
    """A model read from disk, with its inputs described.

    ``keras_model`` is set for ``kind`` ``"keras"`` and ``"h5"``, ``saved_model_dir`` for
    ``"savedmodel"`` and ``tflite_bytes`` for ``"tflite"``; the others are ``None``.
    ``input_shapes`` are per-sample shapes (batch dimension removed, see the module docstring),
    ``input_dtypes`` and ``input_names`` follow the same input order. ``notes`` says what was done
    to make the file load (e.g. Keras 2 config keys that were ignored).
    """

    path: Path
    kind: ModelKind
    keras_model: Any | None
    saved_model_dir: Path | None
    tflite_bytes: bytes | None
    input_shapes: list[Shape]
    input_dtypes: list[np.dtype]
    input_names: list[str]
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------
# Quiet TensorFlow


@contextlib.contextmanager
def quiet_tf() -> Iterator[Callable[[], str]]:
    """Silence TensorFlow while the block runs.

    Python warnings and absl/TF loggers below ERROR are dropped, and the process's native stderr
    (file descriptor 2, where the TF/MLIR C++ code writes) goes to a temporary file. Python code that
    writes to ``sys.stderr`` (a progress bar) still reaches the terminal. Yields a function returning
    what the native code wrote so far, for error messages.
    """
    import logging
    import warnings

    sys.stdout.flush()
    sys.stderr.flush()
    loggers = [logging.getLogger(name) for name in ("absl", "tensorflow", "keras")]
    levels = [logger.level for logger in loggers]
    old_stderr = sys.stderr
    swap = _writes_to_fd(old_stderr, 2)
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as log:

        def captured() -> str:
            return os.pread(log.fileno(), os.fstat(log.fileno()).st_size, 0).decode("utf-8", "replace")

        os.dup2(log.fileno(), 2)
        if swap:
            sys.stderr = open(os.dup(saved_fd), "w", buffering=1, encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        try:
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield captured
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)
            if swap:
                sys.stderr.close()
                sys.stderr = old_stderr
            os.dup2(saved_fd, 2)
            os.close(saved_fd)


def _writes_to_fd(stream: Any, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def import_tf() -> Any:
    """Import and return ``tensorflow`` quietly, with Keras on the TensorFlow backend."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with quiet_tf():
        import tensorflow as tf
    return tf


def import_keras() -> Any:
    """Import and return ``keras`` (3.x, TensorFlow backend) quietly."""
    import_tf()
    with quiet_tf():
        import keras
    if keras.backend.backend() != "tensorflow":
        raise EdgeqError(
            f"Keras runs on the {keras.backend.backend()!r} backend; edgeq converts models with TensorFlow",
            hint="unset KERAS_BACKEND or set KERAS_BACKEND=tensorflow",
        )
    return keras


def error_line(error: BaseException, *, last: bool = False, limit: int = 300) -> str:
    """One non-empty line of an exception's message (library messages run to pages), at most ``limit`` chars."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    line = (lines[-1] if last else lines[0]) if lines else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# Entry point


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Load a ``.keras``, ``.h5``/``.hdf5`` or ``.tflite`` file, or a TensorFlow SavedModel directory."""
    path = Path(path)
    if not path.exists():
        raise EdgeqError(f"model file {path} does not exist", hint="check the path and the current directory")
    if path.is_dir():
        if not any((path / name).is_file() for name in _SAVED_MODEL_FILES):
            raise EdgeqError(
                f"{path} is a directory but not a TensorFlow SavedModel (it has no saved_model.pb)",
                hint=f"pass a model file ({_SUPPORTED})",
            )
        return _load_saved_model(path)
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None:
        raise EdgeqError(
            f"{path}: unknown model file extension {path.suffix or '(none)'!r}",
            detail=[f"supported: {_SUPPORTED}"],
            hint="export the model with model.save('model.keras') or pass a .tflite file",
        )
    if kind == "tflite":
        return _load_tflite(path)
    return _load_keras_file(path, kind)


# --------------------------------------------------------------------------------------------------
# Keras files


def _load_keras_file(path: Path, kind: ModelKind) -> LoadedModel:
    config = _read_keras_config(path, kind)
    keras = import_keras()
    notes: tuple[str, ...] = ()
    with quiet_tf():
        try:
            model = keras.models.load_model(path, compile=False)
        except Exception as error:  # Keras raises many types; each becomes one message
            model, notes = _load_keras_compat(path, kind, config, error)
    names, shapes, dtypes = _keras_inputs(model, path)
    return LoadedModel(
        path=path,
        kind=kind,
        keras_model=model,
        saved_model_dir=None,
        tflite_bytes=None,
        input_shapes=shapes,
        input_dtypes=dtypes,
        input_names=names,
        notes=notes,
    )


def _read_keras_config(path: Path, kind: ModelKind) -> dict[str, Any]:
    """The model config stored in a ``.keras`` or ``.h5`` file; rejects non-model and weights-only files."""
    if kind == "keras":
        if not zipfile.is_zipfile(path):
            raise EdgeqError(
                f"{path} is not a Keras model file (a .keras file is a zip archive; this one is not)",
                hint="re-save the model with model.save('model.keras')",
            )
        try:
            with zipfile.ZipFile(path) as archive:
                if "config.json" not in archive.namelist():
                    raise EdgeqError(
                        f"{path} is a zip archive without config.json, so not a Keras model",
                        hint="re-save the model with model.save('model.keras')",
                    )
                raw: str | bytes = archive.read("config.json")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
            raise EdgeqError(
                f"{path} is a damaged .keras archive ({error_line(error)})",
                hint="the file may be truncated or corrupted: copy it again or re-save the model with "
                "model.save('model.keras')",
            ) from None
    else:
        import h5py

        if not h5py.is_hdf5(path):
            raise EdgeqError(
                f"{path} is not an HDF5 file, so not a Keras .h5 model",
                hint="pass the file the model was saved to with model.save(...)",
            )
        try:
            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("model_config")
        except (OSError, KeyError, ValueError, RuntimeError) as error:
            raise EdgeqError(
                f"{path} is a damaged HDF5 file ({error_line(error)})",
                hint="the file may be truncated or corrupted: copy it again or re-save the model with model.save(...)",
            ) from None
        if raw is None:
            raise EdgeqError(
                f"{path} holds only weights, no model architecture (no 'model_config' in the file)",
                detail=["it was probably written by model.save_weights(...)"],
                hint="save the whole model with model.save('model.keras') (Keras 3) or model.save('model.h5') "
                "(Keras 2) and pass that file",
            )
    try:
        config = json.loads(raw)
    except (ValueError, TypeError) as error:
        raise EdgeqError(f"{path}: the stored model config is not valid JSON ({error})",
                         hint="the file is damaged or was not written by Keras; re-save the model with "
                         "model.save('model.keras')") from None
    if not isinstance(config, dict):
        raise EdgeqError(f"{path}: the stored model config is not a Keras model config",
                         hint="re-save the model with model.save('model.keras')")
    return config


def _load_keras_compat(
    path: Path, kind: ModelKind, config: dict[str, Any], error: Exception
) -> tuple[Any, tuple[str, ...]]:
    """Load a file Keras 3 refused, after dropping config keys its layers do not accept."""
    keras = import_keras()
    dropped: list[str] = []
    unknown: list[str] = []
    _clean_layer(config, keras, dropped, unknown)
    if unknown:
        raise EdgeqError(
            f"{path} uses layer classes Keras {keras.__version__} does not have: " + ", ".join(unknown),
            detail=[f"Keras said: {error_line(error, last=True)}"],
            hint="replace custom or TensorFlow-op layers (TFOpLambda) with Keras layers and re-save, "
            "or export a TensorFlow SavedModel (model.save(dir) in Keras 2) and pass that directory",
        ) from None
    if not dropped:
        raise _keras_load_error(path, error) from None
    with tempfile.TemporaryDirectory(prefix="edgeq-compat-") as tmp:
        patched = _write_config_copy(path, kind, config, Path(tmp))
        try:
            model = keras.models.load_model(patched, compile=False)
        except Exception as retry_error:
            raise _keras_load_error(path, retry_error) from None
    counts = collections.Counter(dropped)
    keys = ", ".join(key if n == 1 else f"{key} (x{n})" for key, n in counts.items())
    return model, (f"Keras 2 compatibility: ignored config keys Keras {keras.__version__} does not accept: {keys}",)


def _clean_layer(entry: dict[str, Any], keras: Any, dropped: list[str], unknown: list[str]) -> None:
    """Drop, in place, the config keys of a layer (and of its nested layers) its constructor rejects."""
    class_name = str(entry.get("class_name"))
    config = entry.get("config")
    if not isinstance(config, dict):
        return
    models = {"Functional": keras.Model, "Model": keras.Model, "Sequential": keras.Sequential}
    cls = models.get(class_name) or getattr(keras.layers, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        unknown.append(f"{class_name} (layer {config.get('name', '?')!r})")
        return
    if not issubclass(cls, keras.Model):
        accepted = _constructor_keywords(cls) | _TRANSLATED_KEYS
        for key in [key for key in config if key not in accepted]:
            dropped.append(f"{class_name}.{key}")
            del config[key]
    for key in _NESTED_LAYER_KEYS:
        nested = config.get(key)
        for child in nested if isinstance(nested, list) else [nested]:
            if isinstance(child, dict):
                _clean_layer(child, keras, dropped, unknown)


def _constructor_keywords(cls: type) -> set[str]:
    """Every keyword ``cls(...)`` accepts: the named parameters along the ``**kwargs`` chain of ``__init__``."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            break
        names |= {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    names.discard("self")
    return names


def _write_config_copy(path: Path, kind: ModelKind, config: dict[str, Any], directory: Path) -> Path:
    """A copy of the model file with its stored model config replaced by ``config``."""
    target = directory / path.name
    text = json.dumps(config)
    if kind == "h5":
        import h5py

        shutil.copyfile(path, target)
        with h5py.File(target, "r+") as h5:
            h5.attrs["model_config"] = text
    else:
        with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for item in source.infolist():
                out.writestr(item, text if item.filename == "config.json" else source.read(item))
    return target


def _keras_load_error(path: Path, error: Exception) -> EdgeqError:
    return EdgeqError(
        f"Keras could not load {path}",
        detail=[error_line(error, last=True)],
        hint="if the model has custom or Lambda layers, export it as a TensorFlow SavedModel (model.export(dir)) "
        "or as a .tflite file and pass that",
    )


def _keras_inputs(model: Any, path: Path) -> tuple[list[str], list[Shape], list[np.dtype]]:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):
        inputs = []
    if not inputs:
        raise EdgeqError(
            f"the Keras model in {path} has no defined inputs, so its input shape is unknown",
            hint="build it on a keras.Input(shape=...) (functional or Sequential model) and re-save",
        )
    names = [str(t.name) for t in inputs]
    shapes = [_per_sample(tuple(t.shape), f"input {name!r} of {path}") for name, t in zip(names, inputs)]
    dtypes = [np.dtype(str(t.dtype)) for t in inputs]
    return names, shapes, dtypes


def _per_sample(shape: Sequence[int | None], what: str) -> Shape:
    """Remove the leading batch dimension (``None``, ``-1`` or ``1``) of a model input shape."""
    dims = tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
    if not dims or dims[0] not in (None, 1):
        raise EdgeqError(
            f"{what} has shape {format_shape(dims)}: the first dimension must be the batch (None or 1)",
            hint="give the model a batch dimension: keras.Input(shape=per_sample_shape)",
        )
    if 0 in dims[1:]:
        raise EdgeqError(
            f"{what} has a zero-sized dimension, shape {format_shape(dims)}",
            hint="every input dimension must be at least 1: fix the model's input shape",
        )
    return dims[1:]


def format_shape(shape: Sequence[int | str | None]) -> str:
    """A shape as Python prints a tuple: ``(32, 32, 3)``, ``(640,)``, ``(N, None, 10)``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


# --------------------------------------------------------------------------------------------------
# SavedModel


def serving_signature(saved: Any, path: Path) -> Any:
    """The SavedModel's ``serving_default`` signature, or its only one."""
    signatures = dict(saved.signatures)
    if "serving_default" in signatures:
        return signatures["serving_default"]
    if len(signatures) == 1:
        return next(iter(signatures.values()))
    raise EdgeqError(
        f"the SavedModel {path} has {'no' if not signatures else len(signatures)} serving signatures "
        f"({', '.join(signatures) or 'none'}) and none is 'serving_default'",
        hint="export it with a serving signature: keras model.export(dir), or "
        "tf.saved_model.save(obj, dir, signatures={'serving_default': fn})",
    )


def signature_inputs(signature: Any) -> dict[str, Any]:
    """The named input ``TensorSpec``s of a SavedModel signature, sorted by name."""
    _, specs = signature.structured_input_signature
    return {name: specs[name] for name in sorted(specs)}


def _load_saved_model(path: Path) -> LoadedModel:
    tf = import_tf()
    with quiet_tf():
        try:
            saved = tf.saved_model.load(str(path))
        except Exception as error:
            raise EdgeqError(
                f"TensorFlow could not load the SavedModel {path}",
                detail=[error_line(error)],
                hint="re-export it with the installed TensorFlow (keras: model.export(dir))",
            ) from None
    specs = signature_inputs(serving_signature(saved, path))
    if not specs:
        raise EdgeqError(f"the serving signature of the SavedModel {path} has no inputs")
    return LoadedModel(
        path=path,
        kind="savedmodel",
        keras_model=None,
        saved_model_dir=path,
        tflite_bytes=None,
        input_shapes=[_per_sample(spec.shape.as_list(), f"input {name!r} of {path}") for name, spec in specs.items()],
        input_dtypes=[np.dtype(spec.dtype.as_numpy_dtype) for spec in specs.values()],
        input_names=list(specs),
    )


# --------------------------------------------------------------------------------------------------
# TFLite


def _load_tflite(path: Path) -> LoadedModel:
    data = path.read_bytes()
    interpreter = tflite_interpreter(data, str(path))
    details = interpreter.get_input_details()
    return LoadedModel(
        path=path,
        kind="tflite",
        keras_model=None,
        saved_model_dir=None,
        tflite_bytes=data,
        input_shapes=[_per_sample(list(d["shape_signature"]), f"input {d['name']!r} of {path}") for d in details],
        input_dtypes=[np.dtype(d["dtype"]) for d in details],
        input_names=[str(d["name"]) for d in details],
    )


def tflite_interpreter(data: bytes, name: str = "model") -> Any:
    """A LiteRT interpreter for TFLite bytes; an EdgeqError if they are not a readable TFLite model."""
    if len(data) < 8 or data[4:8] != TFLITE_FILE_IDENTIFIER:
        raise EdgeqError(
            f"{name} is not a TFLite model (no 'TFL3' file identifier at bytes 4..8)",
            hint="pass a .tflite file written by the TFLite converter",
        )
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
        if np.dtype(d["dtype"]) != np.dtype(want)
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
