"""`edgeq quantize --compare-calibrations`: every activation-range method on one model, measured.

The float model is calibrated once by the TFLite converter and observed once more on the calibration
data (:mod:`edgeq.frontend.calibrate`); each method's ranges then go through the converter's MLIR
quantizer (:func:`edgeq.frontend.partial.quantize_calibrated`), which is cheap. Each int8 model runs in
LiteRT with its reference kernels (what the generated C matches bit for bit) on the evaluation samples
(``data``, else the calibration samples) and is compared with the float model (the calibrated float
TFLite model, the same graph): top-1 accuracy when the data has labels, top-1 agreement with the float
model, and SQNR / cosine similarity of the outputs. The best method by the chosen metric wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend import calibrate
from edgeq.frontend import partial
from edgeq.frontend.convert import signature_names
from edgeq.frontend.load import load_model
from edgeq.frontend.data import Samples, load_calibration, load_dataset, loaded_inputs
from edgeq.quality.metrics import ErrorStats, accuracy, cosine_similarity, finite_or_none, top1_agreement
from edgeq.quality.validate import FloatLiteRT

METRICS = ("accuracy", "sqnr")


@dataclass
class CalibrationComparison:
    """The result of :func:`compare_calibrations`; ``rows`` is plain data, one dict per method:

    ``method`` (e.g. "percentile:99.99"), ``accuracy`` (0..1 on the labels, or None), ``top1_agreement``
    (0..1 with the float model, or None if the output is not a class vector), ``sqnr_db`` and ``cosine``
    (int8 output vs float output, all outputs, all samples), ``clipped_tensors`` (tensors whose range the
    method narrowed), ``best`` (bool).
    """

    model: str
    calibration: str
    data: str
    samples: int
    metric: str
    per_channel: bool
    float_accuracy: float | None
    rows: list[dict]
    best: str
    calibration_warning: str | None = None
    models: dict[str, bytes] = field(default_factory=dict, repr=False)  # method -> int8 TFLite bytes
    # method -> {tensor name: (lo, hi)}: the range each calibrated tensor was given
    ranges: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict, repr=False)

    @property
    def tflite(self) -> bytes:
        """The int8 model of the best method."""
        return self.models[self.best]

    def to_json(self) -> dict:
        return {"model": self.model, "calibration": self.calibration,
                "calibration_warning": self.calibration_warning, "data": self.data, "samples": self.samples,
                "metric": self.metric, "granularity": "per-channel" if self.per_channel else "per-tensor",
                "float_accuracy": self.float_accuracy, "best": self.best,
                "rows": [{k: finite_or_none(v) for k, v in r.items()} for r in self.rows]}


def compare_calibrations(
    model_path: str | Path,
    calib: str,
    *,
    methods: Sequence[str] | None = None,
    data: str | Path | None = None,
    samples: int | None = None,
    metric: str | None = None,
    per_channel: bool = True,
    percentile: float | None = None,
    random_range: tuple[float, float] = (-1.0, 1.0),
    random_count: int = 100,
    progress=None,
) -> CalibrationComparison:
    """Quantize ``model_path`` with every calibration method and measure each int8 model.

    ``methods`` default to minmax, percentile (at ``percentile``, default 99.99), mse and entropy.
    ``data`` is read by the rules of ``--data`` (:mod:`edgeq.frontend.data`; labels ``y`` give the
    accuracy); without it the calibration samples are used. ``samples`` caps the evaluation samples.
    ``metric`` ("accuracy" needs labels, "sqnr") picks the best; default accuracy when there are labels,
    else sqnr. ``progress(description, total)`` returns a step callback.
    """
    chosen = [calibrate.parse_method(m) for m in methods] if methods else calibrate.all_methods(
        percentile if percentile is not None else calibrate.DEFAULT_PERCENTILE)
    if len({m.name for m in chosen}) != len(chosen):
        raise EdgeqError("the same calibration method is listed twice", detail=[m.name for m in chosen])
    if metric is not None and metric not in METRICS:
        raise EdgeqError(f"unknown metric {metric!r}", hint=f"use one of {', '.join(METRICS)}")
    loaded = load_model(model_path)
    if loaded.kind == "tflite":
        raise EdgeqError(f"{model_path} is already a TFLite model; comparing calibrations needs the float model",
                         hint="pass the Keras model (.keras/.h5) or SavedModel it came from")
    cal = load_calibration(calib, loaded_inputs(loaded), random_range=random_range, random_count=random_count)
    evalset = evaluation_set(data, cal, loaded, samples)
    if metric is None:
        metric = "accuracy" if evalset.labels is not None else "sqnr"
    if metric == "accuracy" and evalset.labels is None:
        raise EdgeqError(f"--metric accuracy needs labelled data; {evalset.source} has no labels",
                         hint="pass --data with arrays x and y (np.savez(f, x=x, y=y)), or use --metric sqnr")

    def tick(what: str, total: int):  # a step callback
        return progress(what, total) if progress else None

    def bar(what: str, total: int):  # a progress(done, total) callback
        step = tick(what, total)
        return (lambda done, n: step()) if step else None

    calibrated = partial.calibrate(loaded, cal, progress=bar("calibrating (converter, min/max)", cal.count))
    stats = calibrate.collect_stats(calibrated, cal.inputs, chosen, input_names=signature_names(loaded),
                                    progress=bar("observing activations",
                                                 calibrate.observation_passes(chosen) * cal.count))
    xs, labels, n = evalset.inputs, evalset.labels, evalset.count
    float_out = FloatLiteRT(calibrated).run_all(xs, tick("float model", n))
    float_acc = accuracy(float_out[0], labels) if labels is not None else None

    rows, models, applied = [], {}, {}
    for method in chosen:
        ranges = calibrate.method_ranges(stats, method)
        model = partial.quantize_calibrated(calibrate.with_ranges(calibrated, ranges), per_channel=per_channel)
        models[method.name] = model
        applied[method.name] = {stats[i].name: r for i, r in ranges.items()}
        outs = FloatLiteRT(model).run_all(xs, tick(f"{method.name}: int8 model (LiteRT)", n))
        rows.append(_row(method.name, outs, float_out, labels, sum(s.narrowed(method) for s in stats.values())))
    key = "accuracy" if metric == "accuracy" else "sqnr_db"
    order = sorted(range(len(rows)), key=lambda i: (-_num(rows[i][key]), -_num(rows[i]["sqnr_db"]), i))
    best = rows[order[0]]["method"]
    for r in rows:
        r["best"] = r["method"] == best
    return CalibrationComparison(
        model=str(model_path), calibration=f"{cal.source} ({cal.count} samples)", data=evalset.source, samples=n,
        metric=metric, per_channel=per_channel, float_accuracy=float_acc, rows=rows, best=best,
        calibration_warning=cal.warning, models=models, ranges=applied)


def _num(v) -> float:
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def evaluation_set(data, cal: Samples, loaded, samples: int | None) -> Samples:
    """The float samples the models are measured on: ``data`` (with its labels, if any), else the
    calibration samples; at most ``samples`` of them."""
    if data is None:
        evalset = Samples(f"calibration samples {cal.source}", list(cal.inputs))
    else:
        ds = load_dataset(data, loaded_inputs(loaded))
        evalset = Samples(ds.source, [np.asarray(a, np.float32) for a in ds.inputs], ds.labels)
    return evalset if samples is None else evalset.head(samples)


def _row(name: str, outs, float_out, labels, clipped: int) -> dict:
    q = np.concatenate([o.reshape(len(o), -1) for o in outs], axis=1)
    f = np.concatenate([o.reshape(len(o), -1) for o in float_out], axis=1)
    classes = outs[0].shape[1] > 1
    return {
        "method": name,
        "accuracy": accuracy(outs[0], labels) if labels is not None else None,
        "top1_agreement": top1_agreement(float_out[0], outs[0]) if classes else None,
        "sqnr_db": ErrorStats.of(f, q).sqnr_db,
        "cosine": cosine_similarity(f, q),
        "clipped_tensors": clipped,
        "best": False,
    }
