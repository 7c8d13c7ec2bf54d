"""Input samples from the user's files: the one loader behind ``--calib`` and ``--data``.

Both flags read files by the same rules, so a model's data is written once and fits either:

* ``.npy``: one array of shape ``(N, *input_shape)``; single-input models only.
* ``.npz``: one array per model input, found by the first rule that names every input:

  1. keyed by the input's name. A converted ``.tflite`` input ``serving_default_<name>:0`` also answers
     to ``<name>``, the name it had in the Keras model or the SavedModel signature (Keras names are made
     valid TensorFlow names first, see :func:`signature_name`), so one file fits a model in every form;
  2. ``x0``, ``x1``, ... ``x<k-1>``: the inputs in the order of their (signature) names, which is the
     order of a SavedModel's or a ``.tflite``'s serving signature. A Keras model whose inputs are not
     listed in name order has no such order common to its forms (``x0`` would feed one input when it
     calibrates and another when its ``.tflite`` is validated), so it must key its arrays by name;
  3. ``x`` (single-input models; ``x0`` too);
  4. the archive's only array (single-input models; ``numpy.savez(f, x)`` stores it as ``arr_0``).

  plus, optionally, ``y``: the labels (class indices or one-hot rows, one per sample). Labels are used by
  ``--data`` (accuracy) and not by calibration (a note says so). Any other array is an error: edgeq does
  not guess which of two candidates was meant.
* ``.bin``: raw little-endian float32 values, a whole number of samples; single-input models only.
* ``random`` (calibration only): ``random_count`` samples uniform in ``random_range``, flagged as not
  representative. An integer input of token ids (it indexes an Embedding table: the Keras model's
  ``Embedding`` layer reads it, or the ``.tflite``'s GATHER does) gets valid ids instead, uniform in
  ``0 .. vocabulary-1`` (:attr:`InputSpec.vocab`), whatever the range.

Every input's array must be numeric, non-empty, finite, and ``(N, *input_shape)``: an array of exactly
one sample's shape is taken as N=1 (with a note). All inputs (and the labels) have the same N. Calibration
data is cast to the model's input dtype (float32 for float inputs); ``--data`` keeps integer arrays as
they are (already-quantized values for an integer ``.tflite`` input) and makes float arrays float32.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.load import LoadedModel, Shape, format_shape
from edgeq.frontend.runtime import error_line
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph

Role = Literal["calibration", "data"]

FORMATS = {
    "calibration": ".npy, .npz, .bin (raw float32 little-endian) or 'random'",
    "data": ".npy, .npz (optionally with labels 'y') or .bin (raw float32 little-endian)",
}
LABELS_KEY = "y"
_SIGNATURE_TENSOR = re.compile(r"^serving_default_(?P<name>.+?)(:\d+)?$")
_TF_NAME_INVALID = re.compile(r"[^A-Za-z0-9_.\-/]")


@dataclass(frozen=True)
class InputSpec:
    """What the loader needs to know of one model input: its name, per-sample shape (no batch dimension;
    ``None`` for an unknown dimension), dtype, and ``position``: the ``i`` of the ``.npz`` key ``x<i>``
    that feeds it (None: the model's inputs have no order common to its forms, see the module doc);
    ``vocab``: for token ids, the size of the table they index (valid ids are 0 .. vocab-1), else None."""

    name: str
    shape: Shape
    dtype: np.dtype
    position: int | None = None
    vocab: int | None = None


def signature_name(name: str) -> str:
    """``name`` made a valid TensorFlow tensor name (letters, digits, ``_.-/``, not starting with ``_-/``):
    the name a Keras input has in the serving signature edgeq exports, hence in the ``.tflite``."""
    name = _TF_NAME_INVALID.sub("_", name)
    return name if name[:1].isalnum() or name[:1] == "." else f"input{name}"


def _canonical(name: str) -> str:
    """The signature name of a model input: ``<name>`` of a converted ``.tflite``'s
    ``serving_default_<name>:0``, else :func:`signature_name`."""
    m = _SIGNATURE_TENSOR.match(name)
    return m["name"] if m else signature_name(name)


def _name_ranks(names: Sequence[str]) -> list[int]:
    order = sorted(range(len(names)), key=lambda i: _canonical(names[i]))
    return [order.index(i) for i in range(len(names))]


def loaded_inputs(loaded: LoadedModel) -> list[InputSpec]:
    """The inputs of a loaded Keras model, SavedModel or ``.tflite`` file, in the order the model lists them."""
    if loaded.kind == "tflite" and loaded.tflite_bytes is not None:
        vocab = [s.vocab for s in tflite_inputs(loaded.tflite_bytes)]
    elif loaded.keras_model is not None:
        vocab = keras_vocab(loaded.keras_model)
    else:
        vocab = [None] * len(loaded.input_names)
    names = list(loaded.input_names)
    ranks = _name_ranks(names)
    if loaded.kind != "tflite" and ranks != list(range(len(names))):
        ranks = [None] * len(names)  # a Keras model listing its inputs out of name order
    return [InputSpec(name, tuple(shape), np.dtype(dtype), rank, v)
            for name, shape, dtype, rank, v in zip(names, loaded.input_shapes, loaded.input_dtypes, ranks, vocab)]


def tflite_inputs(model: bytes) -> list[InputSpec]:
    """The inputs of a TFLite model (batch dimension removed), in the model's (subgraph) order."""
    g = read_tflite(model)
    tensors = [g.tensor(t) for t in g.inputs]
    ranks = _name_ranks([t.name for t in tensors])
    return [InputSpec(t.name, tuple(t.shape[1:]), np.dtype(t.dtype), rank, gather_vocab(g, tid))
            for tid, t, rank in zip(g.inputs, tensors, ranks)]


# ops through which the converter passes token ids on to a GATHER: the wrap of negative ids
# (LESS / ADD / SELECT), casts and reshapes
_ID_OPS = frozenset({"LESS", "ADD", "SELECT", "SELECT_V2", "CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS"})


def gather_vocab(g: Graph, tid: int) -> int | None:
    """For an integer input tensor ``tid`` of ``g`` used as indices of GATHER (or EMBEDDING_LOOKUP) ops,
    directly or through the converter's id wrapping: the smallest table size they index (so ids
    0 .. size-1 are valid for all of them). None for other inputs."""
    if np.dtype(g.tensor(tid).dtype).kind not in "iu":
        return None
    sizes, seen, todo = [], {tid}, [tid]
    while todo:
        t = todo.pop()
        for op in g.ops:
            if t not in op.inputs:
                continue
            if op.kind == "GATHER" and op.inputs[1] == t:
                axis = op.attrs.get("axis", 0)
                params = g.tensor(op.inputs[0]).shape
                sizes.append(params[axis % len(params)])
            elif op.kind == "EMBEDDING_LOOKUP" and op.inputs[0] == t:
                sizes.append(g.tensor(op.inputs[1]).shape[0])
            elif op.kind in _ID_OPS:
                for o in op.outputs:
                    if o not in seen and np.dtype(g.tensor(o).dtype).kind in "iu":
                        seen.add(o)
                        todo.append(o)
    return int(min(sizes)) if sizes else None


def keras_vocab(model) -> list[int | None]:
    """For each input of a Keras model: the vocabulary of the Embedding layers that read it directly (the
    smallest ``input_dim``), else None."""
    out = []
    for t in model.inputs:
        dims = [layer.input_dim for layer in model.layers if type(layer).__name__ == "Embedding"
                and any(inp is t for node in layer._inbound_nodes for inp in node.input_tensors)]
        out.append(min(dims) if dims else None)
    return out


@dataclass(frozen=True, eq=False)
class Samples:
    """Samples for a model: ``inputs[i]`` is an ``(N, *shape)`` array for model input ``i``; ``labels``
    (N of them, class indices or one-hot rows) or None.

    ``representative`` is False for random data, and ``warning`` then says so; ``notes`` tell what was
    done to the data (a single sample given a batch dimension, labels not used...).
    """

    source: str
    inputs: list[np.ndarray]
    labels: np.ndarray | None = None
    representative: bool = True
    warning: str | None = None
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs:
            raise ValueError("Samples need at least one input array")
        counts = {len(a) for a in self.inputs} | ({len(self.labels)} if self.labels is not None else set())
        if len(counts) != 1:
            raise ValueError(f"Samples {self.source!r}: inputs and labels differ in sample count {sorted(counts)}")

    @property
    def count(self) -> int:
        """The number of samples N."""
        return int(self.inputs[0].shape[0])

    def sample(self, k: int) -> list[np.ndarray]:
        """Sample ``k``, each input with a batch dimension of 1."""
        return [array[k : k + 1] for array in self.inputs]

    def samples(self) -> Iterator[list[np.ndarray]]:
        """The samples one at a time, each input with a batch dimension of 1."""
        for k in range(self.count):
            yield self.sample(k)

    def head(self, n: int, source: str | None = None) -> Samples:
        """The first ``n`` samples (all of them if there are fewer)."""
        return Samples(source if source is not None else self.source, [a[:n] for a in self.inputs],
                       None if self.labels is None else self.labels[:n], self.representative, self.warning,
                       self.notes)


# --------------------------------------------------------------------------------------------------
# Loading


def load_calibration(
    spec: str | os.PathLike[str],
    inputs: Sequence[InputSpec],
    *,
    random_range: tuple[float, float] = (-1.0, 1.0),
    random_count: int = 100,
    seed: int = 0,
) -> Samples:
    """Calibration samples (``--calib``) for a model with the given inputs: a file (see the module doc),
    or ``"random"``, ``random_count`` samples uniform in ``random_range`` (not representative: accuracy
    numbers measured with them mean nothing). Cast to the model's input dtypes; labels are dropped."""
    inputs = _specs(inputs)
    if str(spec) == "random":
        return _random(inputs, random_range, random_count, seed)
    return _load(Path(spec), inputs, "calibration")


def load_dataset(spec: str | os.PathLike[str], inputs: Sequence[InputSpec]) -> Samples:
    """Evaluation samples (``--data``) for a model with the given inputs, with their labels if the file has
    them (see the module doc). Float arrays become float32; integer arrays keep their dtype."""
    inputs = _specs(inputs)
    if str(spec) == "random":
        raise EdgeqError("--data random: random data has no labels and says nothing about the model's real inputs",
                         hint="leave out --data (random inputs or the calibration samples are used instead), "
                              f"or pass a data file ({FORMATS['data']})")
    return _load(Path(spec), inputs, "data")


def match_names(names: Sequence[str], inputs: Sequence[InputSpec]) -> list[int] | None:
    """For each of ``names`` (e.g. a Keras model's inputs), the index of the input of ``inputs`` (e.g. its
    ``.tflite``'s) that answers to it by the rule-1 name matching of the module doc; None unless that
    pairs them one to one."""
    found = [[i for i, spec in enumerate(inputs) if _answers_to(name, spec.name)] for name in names]
    order = [f[0] for f in found if len(f) == 1]
    return order if len(order) == len(names) == len(inputs) == len(set(order)) else None


def check_samples(samples: Samples, inputs: Sequence[InputSpec]) -> None:
    """An EdgeqError unless ``samples`` has one ``(N, *shape)`` array per model input."""
    if len(samples.inputs) != len(inputs):
        raise EdgeqError(f"{samples.source} has {len(samples.inputs)} input array(s) but the model has "
                         f"{len(inputs)} input(s): {[i.name for i in inputs]}",
                         hint="give one array per model input")
    for array, spec in zip(samples.inputs, inputs):
        if array.ndim != len(spec.shape) + 1 or not _matches(array.shape[1:], spec.shape):
            raise EdgeqError(
                f"{samples.source} has samples of shape {format_shape(array.shape[1:])} for the model input "
                f"{spec.name!r}, which takes {format_shape(spec.shape)}",
                hint=f"reshape the data to {format_shape(('N', *spec.shape))}")


def static_shape(shape: Shape, name: str, what: str) -> tuple[int, ...]:
    """``shape`` with its type narrowed to ints; an EdgeqError if a dimension is unknown (``None``)."""
    static = tuple(d for d in shape if d is not None)
    if len(static) != len(shape):
        raise EdgeqError(
            f"{what}: {name} has a variable dimension, shape {format_shape(shape)}",
            hint="give the model a fixed input shape (microcontroller code needs static shapes)",
        )
    return static


def _specs(inputs: Sequence[InputSpec]) -> list[InputSpec]:
    specs = list(inputs)
    if not specs:
        raise ValueError("a model has at least one input")
    return specs


def _load(path: Path, inputs: list[InputSpec], role: Role) -> Samples:
    noun = f"{role} file {path}"
    if not path.is_file():
        problem = "does not exist" if not path.exists() else "is not a file"
        raise EdgeqError(f"{noun} {problem}", hint=f"pass a {role} file ({FORMATS[role]})")
    suffix = path.suffix.lower()
    labels = None
    if suffix == ".npy":
        raw = [("", _read_npy(path, noun, len(inputs)))]
    elif suffix == ".npz":
        raw, labels = _match_npz(path, noun, _read_npz(path, noun), inputs)
    elif suffix == ".bin":
        raw = [("", _read_bin(path, noun, inputs))]
    else:
        raise EdgeqError(
            f"{noun}: unknown format {suffix or '(no extension)'!r}",
            detail=[f"supported: {FORMATS[role]}"],
            hint="save the samples with numpy.save('data.npy', x), x of shape (N, *input_shape)",
        )
    arrays: list[np.ndarray] = []
    notes: list[str] = []
    for (key, array), spec in zip(raw, inputs):
        what = noun + (f" key {key!r}" if key else "")
        checked, note = _check_array(array, spec, what, len(inputs) > 1, cast=role == "calibration")
        arrays.append(checked)
        notes += [note] if note else []
    counts = {array.shape[0] for array in arrays}
    if len(counts) > 1:
        raise EdgeqError(
            f"{noun} has different sample counts per input: "
            + ", ".join(f"{key}: {array.shape[0]}" for (key, _), array in zip(raw, arrays)),
            hint="give every input the same number of samples N",
        )
    if labels is not None:
        if role == "calibration":
            notes.append(f"{noun}: labels {LABELS_KEY!r} are not used for calibration")
            labels = None
        else:
            labels = _check_labels(labels, arrays[0].shape[0], noun)
    return Samples(source=str(path), inputs=arrays, labels=labels, notes=tuple(notes))


def _random(inputs: list[InputSpec], random_range: tuple[float, float], count: int, seed: int) -> Samples:
    low, high = (float(v) for v in random_range)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise EdgeqError(f"random calibration range {random_range} is not a finite range low < high")
    if count < 1:
        raise EdgeqError(f"random calibration needs at least 1 sample, got {count}")
    rng = np.random.default_rng(seed)
    arrays, ids = [], []
    for spec in inputs:
        static = static_shape(spec.shape, spec.name, "random calibration data")
        if spec.vocab is not None:
            arrays.append(random_token_ids(rng, spec.vocab, (count, *static), spec.dtype))
            ids.append(f"{spec.name!r} token ids in 0..{spec.vocab - 1}")
            continue
        samples = rng.uniform(low, high, size=(count, *static))
        arrays.append(samples.astype(spec.dtype if spec.dtype.kind in "iu" else np.float32))
    warning = (
        f"calibration data is random (uniform in [{low:g}, {high:g}]"
        + "".join(f"; {d}" for d in ids)
        + "), NOT representative of real inputs: the int8 scales are guesses and accuracy numbers measured with "
        "it are meaningless"
    )
    return Samples(source="random", inputs=arrays, representative=False, warning=warning)


def random_token_ids(rng: np.random.Generator, vocab: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Valid token ids for a table of ``vocab`` rows: uniform in 0 .. vocab-1 (float inputs get them as floats)."""
    ids = rng.integers(0, vocab, size=shape)
    return ids.astype(dtype if np.dtype(dtype).kind in "iu" else np.float32)


def _read_npy(path: Path, noun: str, n_inputs: int) -> np.ndarray:
    if n_inputs > 1:
        raise EdgeqError(
            f"{noun} is a single .npy array but the model has {n_inputs} inputs",
            hint="save one array per input in an .npz, keyed by input name: numpy.savez(path, name1=x1, "
                 "name2=x2)",
        )
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise EdgeqError(
            f"{noun} is not a readable .npy array ({error_line(error)})",
            hint="write it with numpy.save(path, x)",
        ) from None
    return np.asarray(array)


def _read_npz(path: Path, noun: str) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):  # numpy would guess "pickled data" for any non-zip bytes
        raise EdgeqError(f"{noun} is not a readable .npz archive (not a zip file)",
                         hint="write it with numpy.savez(path, x=x)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: np.asarray(archive[key]) for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise EdgeqError(
            f"{noun} is not a readable .npz archive ({error_line(error)})",
            hint="write it with numpy.savez(path, x=x)",
        ) from None


def _answers_to(key: str, name: str) -> bool:
    """Whether the ``.npz`` key ``key`` names the model input ``name`` (see the module doc, rule 1)."""
    return key == name or signature_name(key) == _canonical(name)


def _match_npz(path: Path, noun: str, arrays: dict[str, np.ndarray],
               inputs: list[InputSpec]) -> tuple[list[tuple[str, np.ndarray]], np.ndarray | None]:
    """The array of each model input (with its key) and the labels, by the module doc's rules."""
    names = [spec.name for spec in inputs]
    by_name = [[key for key in arrays if _answers_to(key, name)] for name in names]
    candidates = [k for k in arrays if k != LABELS_KEY]
    positions = [0] if len(names) == 1 else [spec.position for spec in inputs]
    keys: list[str] | None = None
    if all(len(found) == 1 for found in by_name):
        keys = [found[0] for found in by_name]
    elif all(f"x{i}" in arrays for i in range(len(names))):
        if None in positions:
            listed = [_canonical(n) for n in names]
            raise EdgeqError(
                f"{noun} keys its arrays x0..x{len(names) - 1}, but the model lists its inputs {listed} out of "
                f"name order: its SavedModel or .tflite form lists them as {sorted(listed)}, so 'x0' cannot "
                "mean the same input to --calib and --data",
                hint="key the arrays by input name: numpy.savez(path, "
                     + ", ".join(f"{n}=..." for n in listed) + ")")
        keys = [f"x{p}" for p in positions]
    elif len(names) == 1 and "x" in arrays:
        keys = ["x"]
    elif len(names) == 1 and len(candidates) == 1:
        keys = candidates
    if keys is None:
        detail = [f"keys {found} all answer to the input {name!r}" for name, found in zip(names, by_name)
                  if len(found) > 1]
        if len(names) > 1:
            missing = [repr(_canonical(name)) for name, found in zip(names, by_name) if not found]
            detail += [f"by input name: no array for {', '.join(missing)}"] if missing else []
            if None not in positions:
                detail.append(f"by position: no {', '.join(f'x{i}' for i in range(len(names)) if f'x{i}' not in arrays)}")
        raise EdgeqError(
            f"{noun} has arrays {sorted(arrays) or '(none)'}; cannot tell which feeds "
            + (f"the model input {names[0]!r}" if len(names) == 1 else f"each of the model inputs {names}"),
            detail=detail,
            hint="store the samples under the key 'x' (labels, if any, under 'y')"
            if len(names) == 1
            else "store one array per model input, keyed by input name: numpy.savez(path, "
            + ", ".join(f"{n}=..." for n in sorted(_canonical(n) for n in names))
            + (f"), or x0..x{len(names) - 1} in that (name) order" if None not in positions else ")")
            + " (labels, if any, under 'y')",
        )
    labels = arrays[LABELS_KEY] if LABELS_KEY in arrays and LABELS_KEY not in keys else None
    extra = sorted(set(candidates) - set(keys))
    if extra:
        raise EdgeqError(
            f"{noun} has array(s) {extra} that feed no model input",
            detail=[f"used: {', '.join(f'{k!r} -> input {n!r}' for k, n in zip(keys, names))}"],
            hint="keep one array per model input and, optionally, the labels 'y' in the file; "
                 "edgeq does not guess which of two candidates was meant",
        )
    return [(key, arrays[key]) for key in keys], labels


def _read_bin(path: Path, noun: str, inputs: list[InputSpec]) -> np.ndarray:
    if len(inputs) > 1:
        raise EdgeqError(
            f"{noun} is raw .bin data but the model has {len(inputs)} inputs",
            hint="save one array per input in an .npz file",
        )
    shape = static_shape(inputs[0].shape, "the model input", f"raw {noun}")
    size = path.stat().st_size
    if size == 0:
        raise EdgeqError(f"{noun} is empty (0 bytes)", hint="give at least one sample")
    per_sample = int(np.prod(shape, dtype=np.int64))
    if size % 4 or (size // 4) % per_sample:
        raise EdgeqError(
            f"{noun} has {size} bytes, which is not a whole number of samples: one sample "
            f"of shape {format_shape(shape)} is {per_sample} float32 values = {4 * per_sample} bytes",
            hint="a .bin file must hold N samples of raw little-endian float32, nothing else",
        )
    return np.fromfile(path, dtype="<f4").reshape(-1, *shape)


def _check_array(array: np.ndarray, spec: InputSpec, what: str, named: bool,
                 cast: bool) -> tuple[np.ndarray, str | None]:
    """One input's samples checked against the model input, as ``(N, *shape)``: of the input's dtype
    (``cast``, float32 for float inputs), else float32 for float data and integers as they are."""
    model_input = "the model input" + (f" {spec.name!r}" if named else "")
    shape, dtype = spec.shape, spec.dtype
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
            f"{what} has shape {format_shape(array.shape)}"
            + (f" = {array.shape[0]} samples of {format_shape(array.shape[1:])}" if array.ndim else "")
            + f", but {model_input} takes {format_shape(shape)} per sample; expected {format_shape(('N', *shape))}",
            hint="reshape the samples to (N, *input_shape), in the model's layout (e.g. channels last)",
        )
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argwhere(bad.reshape(len(array), -1).any(axis=1))[0, 0])
            raise EdgeqError(
                f"{what} contains {int(bad.sum())} NaN/Inf value(s) (first in sample {first})",
                hint="clean or drop those samples; edgeq needs finite values",
            )
        if cast and dtype.kind in "iu" and not np.array_equal(array, np.round(array)):
            raise EdgeqError(f"{what} has fractional values but {model_input} takes {dtype.name}")
    if cast:
        return array.astype(dtype if dtype.kind in "iu" else np.float32), note
    return (array.astype(np.float32) if array.dtype.kind == "f" else array), note


def _check_labels(labels: np.ndarray, count: int, noun: str) -> np.ndarray:
    what = f"{noun} key {LABELS_KEY!r}"
    if labels.dtype.kind not in "biuf" or labels.ndim == 0:
        raise EdgeqError(f"{what} has dtype {labels.dtype} and shape {format_shape(labels.shape)}; labels are "
                         "one class index or one-hot row per sample",
                         hint="save the labels as integers: numpy.savez(path, x=x, y=y)")
    if len(labels) != count:
        raise EdgeqError(f"{what} has {len(labels)} labels for {count} samples",
                         hint="give one label per sample, in the same order")
    return labels


def _matches(actual: Sequence[int], expected: Shape) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))
