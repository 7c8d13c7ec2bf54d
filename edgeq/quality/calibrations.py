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
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        return {"model": self.model, "calibration": self.calibration,
                "calibration_warning": self.calibration_warning, "data": self.data, "samples": self.samples,
                "metric": self.metric, "granularity": "per-channel" if self.per_channel else "per-tensor",
                "float_accuracy": self.float_accuracy, "best": self.best,
                "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows]}


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
    ``data`` is an ``.npz`` with ``x`` (and ``y`` labels) or an ``.npy``; without it the calibration
    samples are used. ``samples`` caps the evaluation samples. ``metric`` ("accuracy" needs labels,
    "sqnr") picks the best; default accuracy when there are labels, else sqnr. ``progress(description,
    total)`` returns a step callback.
    """
    from edgeq.frontend import calibrate, partial as mixed
    from edgeq.frontend.load import load_model
    from edgeq.frontend.convert import _tf_name, load_calibration

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
    cal = load_calibration(calib, loaded.input_shapes, loaded.input_dtypes, input_names=loaded.input_names,
                           random_range=random_range, random_count=random_count)
    evalset = _evaluation_set(data, cal, samples)
    if metric is None:
        metric = "accuracy" if evalset[1] is not None else "sqnr"
    if metric == "accuracy" and evalset[1] is None:
        raise EdgeqError(f"--metric accuracy needs labelled data; {evalset[2]} has no labels",
                         hint="pass --data with arrays x and y (np.savez(f, x=x, y=y)), or use --metric sqnr")

    def bar(what: str, total: int):
        step = progress(what, total) if progress else None
        return (lambda done, n: step()) if step else None

    calibrated = mixed.calibrate(loaded, cal, progress=bar("calibrating (converter, min/max)", cal.count))
    names = [_tf_name(n) for n in loaded.input_names] if loaded.kind != "savedmodel" else list(loaded.input_names)
    stats = calibrate.collect_stats(calibrated, cal.inputs, chosen, input_names=names, progress=bar(
        "observing activations", calibrate.observation_passes(chosen) * cal.count))
    xs, labels, source = evalset
    n = int(xs[0].shape[0])
    step = bar("float model", n)
    float_out = _run(calibrated, xs, step)
    float_acc = _accuracy(float_out[0], labels) if labels is not None else None

    rows, models, applied = [], {}, {}
    for method in chosen:
        ranges = calibrate.method_ranges(stats, method)
        model = mixed.quantize_calibrated(calibrate.with_ranges(calibrated, ranges), per_channel=per_channel)
        models[method.name] = model
        applied[method.name] = {stats[i].name: r for i, r in ranges.items()}
        outs = _run(model, xs, bar(f"{method.name}: int8 model (LiteRT)", n))
        rows.append(_row(method.name, outs, float_out, labels, sum(s.narrowed(method) for s in stats.values())))
    key = "accuracy" if metric == "accuracy" else "sqnr_db"
    order = sorted(range(len(rows)), key=lambda i: (-_num(rows[i][key]), -_num(rows[i]["sqnr_db"]), i))
    best = rows[order[0]]["method"]
    for r in rows:
        r["best"] = r["method"] == best
    return CalibrationComparison(
        model=str(model_path), calibration=f"{cal.source} ({cal.count} samples)", data=source, samples=n,
        metric=metric, per_channel=per_channel, float_accuracy=float_acc, rows=rows, best=best,
        calibration_warning=cal.warning, models=models, ranges=applied)


def _num(v) -> float:
    return -math.inf if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _evaluation_set(data, cal, samples: int | None) -> tuple[list[np.ndarray], np.ndarray | None, str]:
    """Float inputs (one array per model input), labels or None, and a description."""
    if data is None:
        xs, labels, source = list(cal.inputs), None, f"calibration samples {cal.source}"
    else:
        from edgeq.quality.validate import load_dataset

        ds = load_dataset(data, len(cal.inputs))
        if len(ds.x) != len(cal.inputs) or any(tuple(a.shape[1:]) != tuple(b.shape[1:])
                                               for a, b in zip(ds.x, cal.inputs)):
            raise EdgeqError(f"data {data} has samples of shape {[tuple(a.shape[1:]) for a in ds.x]}, "
                             f"the model takes {[tuple(b.shape[1:]) for b in cal.inputs]}",
                             hint="give the evaluation data the calibration data's per-sample shape")
        if ds.y is not None and len(ds.y) != len(ds.x[0]):
            raise EdgeqError(f"data {data} has {len(ds.x[0])} inputs but {len(ds.y)} labels")
        xs, labels, source = [np.asarray(a, np.float32) for a in ds.x], ds.y, str(data)
    if samples is not None:
        xs = [a[:samples] for a in xs]
        labels = labels[:samples] if labels is not None else None
    return xs, labels, source


def _run(model: bytes, xs: list[np.ndarray], step=None) -> list[np.ndarray]:
    """Outputs (float; int8 dequantized) of ``model`` in LiteRT (reference kernels), one array
    ``(N, size)`` per model output; float inputs are quantized as an int8 input needs."""
    from edgeq.quality.references import LiteRT
    from edgeq.quality.validate import quantize_input

    rt = LiteRT(model)
    outs: list[list[np.ndarray]] = [[] for _ in rt.outputs]
    n = int(xs[0].shape[0])
    for k in range(n):
        feed = []
        for d, x in zip(rt.inputs, xs):
            x = np.asarray(x[k : k + 1], np.float32).reshape(d["shape"])
            if np.dtype(d["dtype"]) != np.float32:
                scale, zp = d["quantization"]
                x = quantize_input(x, scale, zp, np.dtype(d["dtype"]).name)
            feed.append(x)
        for i, (d, o) in enumerate(zip(rt.outputs, rt.run(feed))):
            if np.dtype(d["dtype"]) != np.float32:
                scale, zp = d["quantization"]
                o = (o.astype(np.float64) - zp) * scale
            outs[i].append(np.asarray(o, np.float64).reshape(-1))
        if step is not None:
            step(k + 1, n)
    return [np.stack(o) for o in outs]


def _labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    return y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1).astype(np.int64)


def _accuracy(out: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(out.argmax(-1) == _labels(labels)))


def _row(name: str, outs, float_out, labels, clipped: int) -> dict:
    q = np.concatenate([o.reshape(len(o), -1) for o in outs], axis=1)
    f = np.concatenate([o.reshape(len(o), -1) for o in float_out], axis=1)
    noise, signal = float(np.sum((q - f) ** 2)), float(np.sum(f**2))
    sqnr = math.inf if noise == 0 else 10.0 * math.log10(max(signal, 1e-30) / noise)
    num = np.sum(q * f, axis=1)
    den = np.linalg.norm(q, axis=1) * np.linalg.norm(f, axis=1)
    cosine = float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-300), 1.0)))
    classes = outs[0].shape[1] > 1
    return {
        "method": name,
        "accuracy": _accuracy(outs[0], labels) if labels is not None else None,
        "top1_agreement": float(np.mean(outs[0].argmax(-1) == float_out[0].argmax(-1))) if classes else None,
        "sqnr_db": sqnr,
        "cosine": cosine,
        "clipped_tensors": clipped,
        "best": False,
    }


# --------------------------------------------------------------------------------------------------
# Presentation (the CLI's table and the HTML report)


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _db(v) -> str:
    return "-" if v is None else ("exact" if math.isinf(v) else f"{v:.2f}")
