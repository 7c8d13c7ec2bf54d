"""Quantization-aware training as one call: wrap a float Keras model in fake quantization
(:mod:`edgeq.frontend.qat`), start every activation range from edgeq's best calibration, fine-tune.

The workflow the quantization literature recommends (Krishnamoorthi 2018; Nagel et al. 2021, "A white
paper on neural network quantization"): start from the best post-training-quantized model, fine-tune
for about 10 % of the original schedule with a learning rate near 1 % of the original, annealed (cosine)
to 0, gradients through the rounding by the straight-through estimator.

1. **Initial ranges**: the float model (fake quantization off) is observed on the training samples at
   every fake-quant point, and each calibration method of :mod:`edgeq.frontend.calibrate` (minmax,
   percentile, mse, entropy; or the one asked for) gives a range per point, by the same code that
   calibrates ``edgeq quantize``. The fake-quantized model is evaluated with each method's ranges on the
   validation data (the training data without it) and starts from the most accurate.
2. **Fine-tuning**: Adam with a cosine-decayed learning rate, sparse categorical cross-entropy (on the
   logits, or on the probabilities when the model ends in softmax), the ranges trained with the weights.
   ``progress`` is called after every epoch with loss, accuracy and the time left.

The result holds the saved ``.keras`` bytes; ``edgeq quantize`` turns them into the int8 model with the
learned ranges.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeq import isolation
from edgeq.errors import EdgeqError
from edgeq.frontend import qat as fq
from edgeq.frontend.cluster import check_clusters
from edgeq.frontend.calibrate import (MSE_SAMPLES, Method, TensorStats, all_methods, observation_passes,
                                      parse_method, top_count)
from edgeq.frontend.data import Samples, load_dataset, loaded_inputs
from edgeq.frontend.load import format_shape, load_model
from edgeq.frontend.runtime import import_keras, quiet_tf

SCHEMES = {"int8": 8, "int8x4": 4}  # scheme -> weight bits
CALIBRATION_SAMPLES = 1000
BATCH = 256  # observation / evaluation batch


@dataclass(frozen=True)
class Epoch:
    """One epoch of fine-tuning: mean training loss and accuracy (fake-quantized, as trained),
    validation accuracy (None without validation data), learning rate at its end, seconds, seconds left."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    val_accuracy: float | None
    lr: float
    seconds: float
    left: float


@dataclass
class QatResult:
    model: str
    keras: bytes  # the saved QAT model (.keras)
    scheme: str
    per_channel: bool
    evaluated_on: str  # what the accuracies below are measured on
    float_accuracy: float
    calibrations: dict[str, float]  # method -> accuracy of the fake-quantized model with its ranges
    calibration: str  # the method training started from
    qat_accuracy: float
    epochs: list[Epoch] = field(default_factory=list)
    points: int = 0
    notes: list[str] = field(default_factory=list)
    clusters: int = 0  # K of a clustered fine-tuning (0: none)
    clusters_per_channel: bool = False

    def to_json(self) -> dict:
        return {"model": self.model, "scheme": self.scheme, "per_channel": self.per_channel,
                "evaluated_on": self.evaluated_on, "float_accuracy": self.float_accuracy,
                "calibrations": self.calibrations, "calibration": self.calibration,
                "qat_accuracy": self.qat_accuracy, "fake_quant_points": self.points,
                "epochs": [e.__dict__ for e in self.epochs], "notes": self.notes,
                "clusters": self.clusters or None, "clusters_per_channel": self.clusters_per_channel}


def qat_model(model_path: str | Path, data: str | Path, *, val: str | Path | None = None, epochs: int = 3,
              lr: float = 1e-4, scheme: str = "int8", per_channel: bool = True, calibration: str | None = None,
              batch_size: int = 32, seed: int = 0, clusters: int | None = None, clusters_per_channel: bool = False,
              progress: Callable[[Epoch], None] | None = None) -> QatResult:
    """Fine-tune ``model_path`` (a float Keras classifier) with fake quantization on ``data`` (.npz with the
    inputs and labels ``y``); see the module doc. ``scheme`` int8x4 rounds the weights to 4 bits
    ([-7, 7] per channel); ``edgeq quantize --scheme int8x4`` keeps them
    (:func:`edgeq.frontend.int4.quantize_qat_int8x4`). ``calibration`` None
    tries every method and starts from the best. ``clusters`` K (int8 only): every weighted layer's kernel is
    k-means clustered to K values per layer (per output channel with ``clusters_per_channel``) and the
    centroids are fine-tuned with the assignment fixed (:func:`edgeq.frontend.qat.wrap`); ``edgeq quantize
    --clusters K`` keeps them.

    The training (TensorFlow's kernels) runs in edgeq's worker (:mod:`edgeq.isolation`): a crash there is
    one error naming the stage; each epoch's row comes back over the pipe to ``progress``."""
    if scheme not in SCHEMES:
        raise EdgeqError(f"unknown QAT scheme {scheme!r}", hint=f"use one of {', '.join(SCHEMES)}")
    if clusters is not None:
        check_clusters(clusters)
        if scheme != "int8":
            raise EdgeqError(f"--clusters applies to the int8 scheme, not --scheme {scheme}",
                             hint="leave out --scheme (int8), or --clusters")
    elif clusters_per_channel:
        raise EdgeqError("--clusters-per-channel needs --clusters K", hint="e.g. --clusters 16 --clusters-per-channel")
    if epochs <= 0 or not math.isfinite(lr) or lr <= 0:
        raise EdgeqError(f"--epochs must be positive and --lr a positive number (got {epochs}, {lr})")
    methods = [parse_method(calibration)] if calibration is not None else all_methods()
    load_model(model_path)  # the file's errors here (its loading is first tried in the worker too)
    return isolation.call("edgeq.flows.qat:train_here", str(model_path), str(data), None if val is None else str(val),
                          epochs, lr, scheme, per_channel, methods, batch_size, seed, clusters or 0,
                          clusters_per_channel, stage=f"the quantization-aware training of {model_path}",
                          tool="TensorFlow",
                          on_report=progress)


def train_here(model_path: str, data: str, val: str | None, epochs: int, lr: float, scheme: str,
               per_channel: bool, methods: list[Method], batch_size: int, seed: int, clusters: int = 0,
               clusters_per_channel: bool = False) -> QatResult:
    """In this process (edgeq's worker): :func:`qat_model`'s training, reporting each epoch's row."""
    progress = isolation.report
    loaded = load_model(model_path)
    if loaded.keras_model is None:
        raise EdgeqError(f"{model_path} is a {loaded.kind} model; quantization-aware training needs the Keras "
                         "model (.keras/.h5)", hint="pass the float Keras model it came from")
    keras = import_keras()
    model = loaded.keras_model
    inputs = loaded_inputs(loaded)
    train = _labelled(load_dataset(data, inputs), model, str(data))
    valid = _labelled(load_dataset(val, inputs), model, str(val)) if val is not None else None
    qat, points = fq.wrap(model, weight_bits=SCHEMES[scheme], per_channel=per_channel, clusters=clusters,
                          cluster_per_channel=clusters_per_channel)
    evaluation = valid if valid is not None else train
    float_acc = _accuracy(model, evaluation)

    with quiet_tf():
        calib = train.head(CALIBRATION_SAMPLES)
        stats = _observe(qat, calib, methods)
        layers = {layer.name: layer for layer in fq.fake_quant_layers(qat)}
        scores = {}
        for method in methods:
            _apply(layers, stats, method)
            scores[method.name] = _accuracy(qat, evaluation)
        start = max(methods, key=lambda m: scores[m.name])  # the first of equals: minmax before the others
        _apply(layers, stats, start)

        labels = _indices(train.labels)
        steps = math.ceil(train.count / batch_size) * epochs
        schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
        optimizer = keras.optimizers.Adam(schedule)
        softmax_out = _ends_in_softmax(model)
        qat.compile(optimizer=optimizer,
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=not softmax_out),
                    metrics=["accuracy"])
        history: list[Epoch] = []
        keras.utils.set_random_seed(seed)
        qat.fit(_x(train), labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                validation_data=(_x(valid), _indices(valid.labels)) if valid is not None else None,
                callbacks=[_progress_callback(keras, epochs, optimizer, history, progress)])
        qat_acc = _accuracy(qat, evaluation)
        with tempfile.TemporaryDirectory(prefix="edgeq-qat-") as tmp:
            path = Path(tmp) / "qat.keras"
            qat.save(path)
            saved = path.read_bytes()
    notes = list(loaded.notes)
    return QatResult(str(model_path), saved, scheme, per_channel,
                     f"{val} ({valid.count} samples)" if valid is not None else f"{data} ({train.count} samples, "
                     "the training data: no --val given)",
                     float_acc, scores, start.name, qat_acc, history, len(points), notes, clusters,
                     clusters_per_channel)


# --------------------------------------------------------------------------------------------------
# Data


def _labelled(samples: Samples, model: Any, source: str) -> Samples:
    """``samples`` whose labels fit the classifier ``model`` (one class index in [0, C) or one-hot row of
    width C per sample, C the model's output width), else an EdgeqError."""
    outputs = model.outputs
    shape = tuple(outputs[0].shape)
    if len(outputs) != 1 or len(shape) != 2 or shape[1] is None or shape[1] < 2:
        raise EdgeqError(f"quantization-aware training takes a classifier with one (batch, classes) output; "
                         f"{model.name} outputs {', '.join(format_shape(o.shape) for o in outputs)}",
                         hint="train a model whose last layer gives one score per class")
    classes = int(shape[1])
    y = samples.labels
    if y is None:
        raise EdgeqError(f"{source} has no labels: quantization-aware training needs them",
                         hint="save the labels beside the inputs: numpy.savez(path, x=x, y=y)")
    if y.ndim == 2 and y.shape[1] == classes and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1):
        return samples
    if y.ndim != 1 or not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= classes:
        found = (f"shape {format_shape(y.shape)}" if y.ndim != 1 else
                 f"values from {y.min():g} to {y.max():g}" if np.all(np.isfinite(y)) else "non-finite values")
        raise EdgeqError(f"the labels of {source} do not fit {model.name}: it has {classes} classes, the labels "
                         f"{found}",
                         hint=f"labels are class indices 0..{classes - 1} (one per sample) or one-hot rows of "
                              f"{classes}")
    return samples


def _indices(labels: np.ndarray) -> np.ndarray:
    return (labels.argmax(axis=1) if labels.ndim == 2 else labels).astype(np.int64)


def _x(samples: Samples) -> Any:
    return samples.inputs[0] if len(samples.inputs) == 1 else list(samples.inputs)


def _accuracy(model: Any, samples: Samples) -> float:
    scores = model.predict(_x(samples), batch_size=BATCH, verbose=0)
    return float(np.mean(np.argmax(scores, axis=-1) == _indices(samples.labels)))


def _ends_in_softmax(model: Any) -> bool:
    last = model.layers[-1]
    act = getattr(last, "activation", None)
    return type(last).__name__ == "Softmax" or getattr(act, "__name__", "") == "softmax"


# --------------------------------------------------------------------------------------------------
# Initial ranges: the float model observed at the fake-quant points, calibrated by each method


def _observe(qat: Any, calib: Samples, methods: list[Method]) -> dict[str, TensorStats]:
    """FakeQuant layer name -> the float activations it quantizes, observed on ``calib`` (fake
    quantization off) with what ``methods`` need (as :func:`edgeq.frontend.calibrate.collect_stats`)."""
    keras = import_keras()
    layers = [layer for layer in fq.fake_quant_layers(qat) if not layer.fixed]
    probe = keras.Model(qat.inputs, [layer.input for layer in layers])
    x = calib.inputs
    n = calib.count
    batches = [slice(i, i + BATCH) for i in range(0, n, BATCH)]
    percentiles = [m.percentile for m in methods if m.kind == "percentile"]
    per_call = math.ceil(MSE_SAMPLES / len(batches)) if any(m.kind == "mse" for m in methods) else 0
    stats = {}
    for layer in layers:
        total = n * int(np.prod(layer.input.shape[1:]))
        keep = top_count(total, min(percentiles)) if percentiles else 0
        stats[layer.name] = TensorStats(layer.name, 0.0, 0.0, keep_top=keep, sample_per_call=per_call)
    rng = np.random.default_rng(0)
    fq.set_enabled(qat, False)
    try:
        for p in range(observation_passes(methods)):
            for b in batches:
                outs = probe([a[b] for a in x] if len(x) > 1 else x[0][b])
                outs = outs if isinstance(outs, (list, tuple)) else [outs]
                for layer, out in zip(layers, outs):
                    values = np.asarray(out)
                    if p == 0:
                        stats[layer.name].add(values, rng)
                    else:
                        stats[layer.name].add_to_histogram(values)
    finally:
        fq.set_enabled(qat, True)
    for s in stats.values():  # minmax keeps the observed range (the converter's own calibration)
        s.lo, s.hi = s.obs_lo, s.obs_hi
    return stats


def _apply(layers: dict[str, Any], stats: dict[str, TensorStats], method: Method) -> None:
    for name, s in stats.items():
        layers[name].set_range(*s.range(method))


# --------------------------------------------------------------------------------------------------
# Training


def _progress_callback(keras: Any, epochs: int, optimizer: Any, history: list[Epoch],
                       progress: Callable[[Epoch], None] | None) -> Any:
    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.monotonic()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_start = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            now = time.monotonic()
            done = epoch + 1
            lr = float(np.asarray(optimizer.learning_rate))
            row = Epoch(done, epochs, float(logs.get("loss", math.nan)), float(logs.get("accuracy", math.nan)),
                        float(logs["val_accuracy"]) if "val_accuracy" in logs else None, lr,
                        now - self.epoch_start, (now - self.start) / done * (epochs - done))
            history.append(row)
            if progress is not None:
                progress(row)

    return Progress()

