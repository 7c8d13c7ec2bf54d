"""Load a user's model file: Keras (``.keras``, ``.h5``), a TensorFlow SavedModel directory, or ``.tflite``.

:func:`load_model` returns a :class:`LoadedModel` that names the model's kind, holds what later stages
need (the Keras model, the SavedModel directory or the TFLite bytes) and describes the inputs.

``input_shapes`` are *per-sample* shapes: the leading batch dimension is removed. It is ``None`` in a
Keras model, ``None`` or ``1`` in a SavedModel signature, ``-1`` or ``1`` in a TFLite file; any other
leading dimension (or a scalar input) is rejected, because the generated C runs one sample at a time.
Other unknown dimensions stay ``None``.

Keras 2 HDF5 files that Keras 3 refuses are loaded through :mod:`edgeq.frontend.keras_compat`; what it
did is listed in ``LoadedModel.notes``.

TensorFlow and Keras are imported inside functions: importing them takes seconds. h5py, Keras, TensorFlow
and LiteRT are native code reading a user's file: a Keras file or SavedModel is loaded in edgeq's worker
process first (:func:`edgeq.isolation.probe`), a ``.tflite`` file is read only there (the LiteRT interpreter
of :func:`edgeq.frontend.tflite.kind.tflite_interpreter`), so a crash on a damaged file is an EdgeqError,
not the end of edgeq.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend.keras_compat import load_keras_compat
from edgeq.frontend.qat import custom_objects as qat_custom_objects
from edgeq.frontend.runtime import error_line, import_keras, import_tf, quiet_tf
from edgeq.frontend.tflite.kind import tflite_interpreter

ModelKind = Literal["keras", "h5", "savedmodel", "tflite"]
Shape = tuple[int | None, ...]

_EXTENSIONS: dict[str, ModelKind] = {".keras": "keras", ".h5": "h5", ".hdf5": "h5", ".tflite": "tflite"}
_SUPPORTED = ".keras, .h5/.hdf5, .tflite, or a TensorFlow SavedModel directory"
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# seconds for loading a model in edgeq's worker: a damaged HDF5 file can make h5py loop forever (found by
# tests/tools/fuzz_loaders.py: reading an attribute of a bit-flipped .h5 never returned)
LOAD_TIMEOUT = 300.0


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


def load_model_here(path: str) -> None:
    """:func:`load_model` in edgeq's worker (:func:`edgeq.isolation.probe`): it raises what loading the file
    raises, or crashes; the model itself stays there (edgeq loads it again once the worker survived)."""
    load_model(path)


# --------------------------------------------------------------------------------------------------
# Keras files


def _load_keras_file(path: Path, kind: ModelKind) -> LoadedModel:
    # h5py and Keras are native code reading a user's file: first in edgeq's worker, which may crash
    isolation.probe("edgeq.frontend.load:load_model_here", str(path), stage=f"loading {path}", tool="Keras",
                    timeout=LOAD_TIMEOUT)
    config = _read_keras_config(path, kind)
    keras = import_keras()
    notes: tuple[str, ...] = ()
    with quiet_tf():
        try:
            # edgeq's quantization-aware training layers (edgeq qat) are registered first
            model = keras.models.load_model(path, compile=False, custom_objects=qat_custom_objects())
        except Exception as error:  # Keras raises many types; each becomes one message
            model, notes = load_keras_compat(path, kind, config, error)
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
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as error:  # TypeError: a damaged
            # attribute's string encoding (h5py: "Unknown string encoding"), found by tests/tools/fuzz_loaders.py
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
    isolation.probe("edgeq.frontend.load:load_model_here", str(path), stage=f"loading {path}", tool="TensorFlow",
                    timeout=LOAD_TIMEOUT)
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
    interpreter = tflite_interpreter(data, str(path))  # in the worker: LiteRT parsing damaged bytes can crash
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
