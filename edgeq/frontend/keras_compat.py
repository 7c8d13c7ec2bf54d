"""Keras 2 files in Keras 3: HDF5 files often carry config keys Keras 3 no longer accepts (``groups`` on
``DepthwiseConv2D``, ``fused`` on ``BatchNormalization``, ...). When plain Keras 3 refuses a file, the
model config is cleaned of every key the layer's Keras 3 constructor does not take, and the file is
loaded again from a patched temporary copy; the dropped keys are reported."""

from __future__ import annotations

import collections
import inspect
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError
from edgeq.frontend.runtime import error_line, import_keras


# Keys Keras 3 itself translates from Keras 2 configs before calling a layer's constructor.
_TRANSLATED_KEYS = frozenset({"input_dim", "input_shape", "batch_input_shape"})


# Config keys that hold nested layer configs (models' layer lists, wrappers' inner layers).
_NESTED_LAYER_KEYS = ("layers", "layer", "forward_layer", "backward_layer")


def load_keras_compat(
    path: Path, kind: str, config: dict[str, Any], error: Exception
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
        raise keras_load_error(path, error) from None
    with tempfile.TemporaryDirectory(prefix="edgeq-compat-") as tmp:
        patched = _write_config_copy(path, kind, config, Path(tmp))
        try:
            model = keras.models.load_model(patched, compile=False)
        except Exception as retry_error:
            raise keras_load_error(path, retry_error) from None
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


def _write_config_copy(path: Path, kind: str, config: dict[str, Any], directory: Path) -> Path:
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


def keras_load_error(path: Path, error: Exception) -> EdgeqError:
    return EdgeqError(
        f"Keras could not load {path}",
        detail=[error_line(error, last=True)],
        hint="if the model has custom or Lambda layers, export it as a TensorFlow SavedModel (model.export(dir)) "
        "or as a .tflite file and pass that",
    )
