"""Quantization sensitivity analysis and partial (mixed int8 / float32) quantization.

:func:`analyze` measures what int8 quantization costs, layer by layer. The float model is calibrated once
(:mod:`edgeq.frontend.partial`); the calibrated float TFLite model and its int8 quantization run in LiteRT
(reference kernels) on the same samples, every intermediate tensor kept, matched by tensor name. Per
quantized op it reports:

* ``sqnr_db`` / ``rmse`` / ``max_abs_err``: the op's int8 output (dequantized) against the float model's
  tensor, over all samples: SQNR = 10 log10(sum f^2 / sum (q - f)^2). This error is *accumulated*: it
  includes everything the ops before added. ``rmse_lsb`` is the RMSE in units of the tensor's scale.
* ``added_db``: how much SQNR this op loses compared with its worst input (its own contribution; a model
  input's error is its int8 quantization's).
* ``float_sqnr_db`` / ``gain_db`` ("single-layer float" sensitivity): the model output's SQNR when only
  this op is kept float32 (every other op int8), and its gain over the all-int8 model. This is what
  quantizing the op costs at the output, so the ranking is by ``gain_db``, worst (largest) first.

:func:`quantize_partial` keeps the most sensitive ops in float32, greedily in ranking order (as in Wu et
al., "Integer Quantization for Deep Learning Inference", NVIDIA 2020), until the quality drop is within a
budget (``max_drop``; an op that does not lower the drop is put back to int8) or a given number of ops is
float (``keep_float``). The quality metric (:data:`METRICS`, on the model's first output) is top-1
accuracy on labelled data, else top-1 agreement with the float model (classifiers), else the output's
noise-to-signal ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError

METRICS = {
    "accuracy": "top-1 accuracy on the labelled data; drop = float accuracy - quantized accuracy",
    "agreement": "no labels: top-1 agreement with the float model on the data; drop = share of samples whose "
                 "top-1 class differs from the float model's (an upper bound on the accuracy drop)",
    "nsr": "no labels, not a classifier: drop = output noise-to-signal ratio sum (q - f)^2 / sum f^2 "
           "(1% = an output SQNR of 20 dB)",
}


def _sqnr(signal: float, noise: float) -> float:
    if noise <= 0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-30) / noise)


class _Model:
    """A TFLite model in LiteRT (BUILTIN_REF): float inputs in (quantized as the model's input needs),
    dequantized float outputs (and intermediates, when ``preserve_all``) out."""

    def __init__(self, model: bytes, preserve_all: bool = False):
        from edgeq.quality.references import LiteRT

        self.rt = LiteRT(model, preserve_all=preserve_all)
        self.interp = self.rt.interp
        self.tensors = {d["name"]: d for d in self.interp.get_tensor_details()}

    def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        from edgeq.quality.validate import quantize_input

        feed = []
        for d, x in zip(self.rt.inputs, xs):
            x = np.asarray(x, np.float32).reshape(d["shape"])
            if np.dtype(d["dtype"]) != np.float32:
                scale, zp = d["quantization"]
                x = quantize_input(x, scale, zp, np.dtype(d["dtype"]).name)
            feed.append(x)
        self.rt.run(feed)
        return [self._float(d) for d in self.rt.outputs]

    def _float(self, d) -> np.ndarray:
        v = self.interp.get_tensor(d["index"])
        if np.dtype(d["dtype"]) == np.float32:
            return v.astype(np.float64)
        scale, zp = d["quantization"]
        return (v.astype(np.float64) - zp) * scale

    def tensor(self, name: str) -> np.ndarray:
        return self._float(self.tensors[name])


@dataclass
class _Eval:
    """What a model does on the evaluation samples, against the float model."""

    outputs: list[np.ndarray]  # output 0 per sample (float)
    signal: float = 0.0
    noise: float = 0.0

    @property
    def sqnr_db(self) -> float:
        return _sqnr(self.signal, self.noise)


@dataclass
class EvalSet:
    """The samples quality is measured on: float inputs ``x`` (one array per model input), labels or None."""

    x: list[np.ndarray]
    y: np.ndarray | None
    source: str

    @property
    def count(self) -> int:
        return int(self.x[0].shape[0])

    def sample(self, k: int) -> list[np.ndarray]:
        return [a[k : k + 1] for a in self.x]


def _metric_name(evalset: EvalSet, float_out: list[np.ndarray]) -> str:
    if evalset.y is not None:
        return "accuracy"
    return "agreement" if float_out and float_out[0].size > 1 else "nsr"


@dataclass
class Analysis:
    """The result of :func:`analyze` (plain data; ``to_json`` for files and the HTML report)."""

    model: str
    calibration: str
    calibration_warning: str | None
    samples: int
    data: str
    metric: str
    layers: list[dict] = field(default_factory=list)  # per int8 op, in model order
    output: dict = field(default_factory=dict)  # all-int8 model output: sqnr_db, rmse, metric values
    single_float: bool = False

    @property
    def ranking(self) -> list[dict]:
        """The quantized ops, costliest first: by single-layer-float gain if measured, else by added_db."""
        key = (lambda r: -(r["gain_db"] if r.get("gain_db") is not None else -math.inf)) if self.single_float \
            else (lambda r: -(r["added_db"] or 0.0))
        return sorted((r for r in self.layers if r["quantized"]), key=key)

    def to_json(self) -> dict:
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        def row(r):
            return {k: clean(v) for k, v in r.items()}

        return {"model": self.model, "calibration": self.calibration,
                "calibration_warning": self.calibration_warning, "samples": self.samples, "data": self.data,
                "metric": self.metric, "metric_definition": METRICS[self.metric], "output": row(self.output),
                "layers": [row(r) for r in self.layers], "ranking": [r["name"] for r in self.ranking]}


@dataclass
class Session:
    """A model calibrated once, its evaluation samples and float reference: what the analysis and the
    greedy search share."""

    path: str
    loaded: object
    calibrated: bytes
    per_channel: bool
    calibration: str
    calibration_warning: str | None
    evalset: EvalSet
    float_out: list[np.ndarray]  # float model's output 0 per sample
    notes: list[str]
    _cache: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return _metric_name(self.evalset, self.float_out)

    def quantized(self, keep_float=()) -> bytes:
        from edgeq.frontend.partial import quantize_calibrated

        key = tuple(sorted(keep_float))
        if key not in self._cache:
            self._cache[key] = quantize_calibrated(self.calibrated, list(key), per_channel=self.per_channel)
        return self._cache[key]

    def evaluate(self, model: bytes, step=None) -> dict:
        """Output SQNR / RMSE against the float model, and the quality metric, on the evaluation samples."""
        m = _Model(model)
        ev = _Eval([])
        for k in range(self.evalset.count):
            q = m.run(self.evalset.sample(k))[0].reshape(-1)
            f = self.float_out[k]
            ev.outputs.append(q)
            ev.signal += float(np.sum(f * f))
            ev.noise += float(np.sum((q - f) ** 2))
            if step:
                step()
        return self._quality(ev)

    def _quality(self, ev: _Eval) -> dict:
        n = self.evalset.count
        size = sum(o.size for o in self.float_out)
        out = {"sqnr_db": ev.sqnr_db, "rmse": math.sqrt(ev.noise / max(size, 1))}
        metric = self.metric
        pq = np.array([o.argmax() for o in ev.outputs])
        pf = np.array([o.argmax() for o in self.float_out])
        if metric == "accuracy":
            y = _labels(self.evalset.y[:n])
            out["float_accuracy"] = float(np.mean(pf == y))
            out["accuracy"] = float(np.mean(pq == y))
            out["drop"] = out["float_accuracy"] - out["accuracy"]
        if metric in ("accuracy", "agreement") and self.float_out[0].size > 1:
            out["agreement"] = float(np.mean(pq == pf))
            if metric == "agreement":
                out["drop"] = 1.0 - out["agreement"]
        if metric == "nsr":
            out["drop"] = 0.0 if ev.noise == 0 else ev.noise / max(ev.signal, 1e-30)
        return out


def _labels(y: np.ndarray) -> np.ndarray:
    from edgeq.quality.validate import _labels as labels

    return labels(y)


def open_session(model_path: str | Path, calib: str, *, data: str | None = None, samples: int = 100,
                 random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
                 calibration: str = "minmax", progress=None) -> Session:
    """Load and calibrate the float model; pick the evaluation samples (``data``, else the calibration
    samples; at most ``samples``) and run the float model on them."""
    from edgeq.frontend.load import load_model
    from edgeq.frontend.partial import calibrate
    from edgeq.frontend.convert import load_calibration

    loaded = load_model(model_path)
    if loaded.kind == "tflite":
        raise EdgeqError(f"{model_path} is a TFLite model; the analysis compares the float model with its "
                         "int8 quantization, so it needs the float model",
                         hint="pass the Keras model (.keras/.h5) or SavedModel the .tflite came from")
    cal = load_calibration(calib, loaded.input_shapes, loaded.input_dtypes, input_names=loaded.input_names,
                           random_range=random_range, random_count=random_count)
    step = progress("calibrating", cal.count) if progress else None
    calibrated = calibrate(loaded, cal, calibration=calibration,
                           progress=(lambda done, total: step()) if step else None)
    notes = list(loaded.notes) + list(cal.notes)
    if data:
        from edgeq.quality.validate import load_dataset

        ds = load_dataset(data, len(loaded.input_shapes))
        for i, (x, shape) in enumerate(zip(ds.x, loaded.input_shapes)):
            if tuple(x.shape[1:]) != tuple(shape):
                raise EdgeqError(f"data {data} input {i} has samples of shape {tuple(x.shape[1:])}; the model "
                                 f"takes {tuple(shape)}", hint="reshape the data to (N, *input_shape)")
        n = min(samples, len(ds.x[0]))
        evalset = EvalSet([np.asarray(x[:n], np.float32) for x in ds.x],
                          None if ds.y is None else np.asarray(ds.y[:n]), f"{data} ({n} samples)")
    else:
        n = min(samples, cal.count)
        evalset = EvalSet([x[:n].astype(np.float32) for x in cal.inputs], None,
                          f"calibration data {cal.source} ({n} samples)")
    fm = _Model(calibrated)
    step = progress("float model", evalset.count) if progress else None
    float_out = []
    for k in range(evalset.count):
        float_out.append(fm.run(evalset.sample(k))[0].reshape(-1))
        if step:
            step()
    desc = f"{cal.source} ({cal.count} samples)" + ("" if calibration == "minmax" else f", {calibration}") \
        + ("" if per_channel else ", per-tensor")
    return Session(str(model_path), loaded, calibrated, per_channel, desc,
                   cal.warning, evalset, float_out, notes)


def analyze(model_path: str | Path, calib: str, *, data: str | None = None, samples: int = 100,
            random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
            calibration: str = "minmax", single_float: bool = True, progress=None,
            session: Session | None = None) -> Analysis:
    """Per-layer quantization error of a float model (see the module doc); ``progress(description, total)``
    returns a step callback."""
    from edgeq.frontend.partial import float_op_names, model_ops

    s = session or open_session(model_path, calib, data=data, samples=samples, random_range=random_range,
                                random_count=random_count, per_channel=per_channel, calibration=calibration,
                                progress=progress)
    int8 = s.quantized()
    qm, fm = _Model(int8, preserve_all=True), _Model(s.calibrated, preserve_all=True)
    float_ops = {op.name: op for op in model_ops(s.calibrated)}
    ops = [op for op in model_ops(int8) if op.name in float_ops and op.kind not in ("QUANTIZE", "DEQUANTIZE")]
    inputs_of = _op_inputs(s.calibrated)
    # the model inputs too: the first ops' "added" error is measured against the input's quantization
    model_inputs = [d["name"] for d in fm.rt.inputs if d["name"] in qm.tensors]
    tracked = model_inputs + [op.name for op in ops]
    acc = {name: [0.0, 0.0, 0.0, 0] for name in tracked}  # signal, noise, max abs err, elements
    step = progress("per-layer error", s.evalset.count) if progress else None
    for k in range(s.evalset.count):
        x = s.evalset.sample(k)
        qm.run(x)
        fm.run(x)
        for name in tracked:
            f, q = fm.tensor(name), qm.tensor(name)
            a = acc[name]
            a[0] += float(np.sum(f * f))
            a[1] += float(np.sum((q - f) ** 2))
            a[2] = max(a[2], float(np.max(np.abs(q - f))) if q.size else 0.0)
            a[3] += q.size
        if step:
            step()
    rows = []
    sqnr = {name: _sqnr(acc[name][0], acc[name][1]) for name in model_inputs}
    for op in ops:
        sig, noise, mx, n = acc[op.name]
        d = qm.tensors[op.name]
        quant = d["quantization"]
        sqnr[op.name] = _sqnr(sig, noise)
        rmse = math.sqrt(noise / max(n, 1))
        ins = [sqnr[t] for t in inputs_of.get(op.name, []) if t in sqnr]
        worst_in = min(ins) if ins else math.inf
        rows.append({"name": op.name, "kind": op.kind, "op": op.index, "float_op": float_ops[op.name].index,
                     "dtype": np.dtype(d["dtype"]).name, "quantized": np.dtype(d["dtype"]) != np.float32,
                     "sqnr_db": sqnr[op.name], "rmse": rmse, "max_abs_err": mx,
                     "scale": float(quant[0]), "zero_point": int(quant[1]),
                     "rmse_lsb": rmse / quant[0] if quant[0] else None,
                     "added_db": (worst_in - sqnr[op.name]) if math.isfinite(worst_in) else
                     (None if not math.isfinite(sqnr[op.name]) else 0.0),
                     "keepable": None, "float_sqnr_db": None, "gain_db": None, "float_drop": None})
    base = s.evaluate(int8)
    result = Analysis(s.path, s.calibration, s.calibration_warning, s.evalset.count, s.evalset.source, s.metric,
                      rows, base, single_float)
    if single_float:
        step = progress("single-layer float", len(rows) * s.evalset.count) if progress else None
        for r in rows:
            model = s.quantized([r["name"]])
            r["keepable"] = r["name"] in float_op_names(model)
            if not r["keepable"]:  # the quantizer ignores the request: same model, no gain
                if step:
                    for _ in range(s.evalset.count):
                        step()
                continue
            ev = s.evaluate(model, step)
            r["float_sqnr_db"] = ev["sqnr_db"]
            r["gain_db"] = ev["sqnr_db"] - base["sqnr_db"] if math.isfinite(base["sqnr_db"]) else 0.0
            r["float_drop"] = ev.get("drop")
    return result


def _op_inputs(model: bytes) -> dict[str, list[str]]:
    """For each op (by output tensor name), the names of its non-constant input tensors (op outputs and
    model inputs)."""
    from edgeq.frontend.partial import _interpreter

    it = _interpreter(model)
    details = {d["index"]: d for d in it.get_tensor_details()}
    produced = {int(d["index"]) for d in it.get_input_details()}
    ops = it._get_ops_details()
    for o in ops:
        produced.update(int(t) for t in o["outputs"])
    return {details[o["outputs"][0]]["name"]: [details[int(t)]["name"] for t in o["inputs"] if int(t) in produced]
            for o in ops}


# --- partial quantization --------------------------------------------------------------------------


@dataclass
class PartialResult:
    """The model of :func:`quantize_partial` and how it was found (``steps``: one row per model tried)."""

    tflite: bytes
    kept_float: list[str]
    steps: list[dict]
    metric: str
    max_drop: float | None
    reached: bool
    analysis: Analysis
    session: Session

    def to_json(self) -> dict:
        return {"kept_float": self.kept_float, "metric": self.metric, "metric_definition": METRICS[self.metric],
                "max_drop": self.max_drop, "reached": self.reached,
                "steps": [{k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                           for k, v in r.items()} for r in self.steps]}


def quantize_partial(model_path: str | Path, calib: str, *, keep_float: int | None = None,
                     max_drop: float | None = None, data: str | None = None, samples: int = 100,
                     random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
                     calibration: str = "minmax", progress=None) -> PartialResult:
    """int8 model with the most sensitive ops left in float32.

    Exactly one of ``keep_float`` (that many ops, costliest first) and ``max_drop`` (a fraction: 0.01 is
    one percentage point of accuracy/agreement, or an output NSR of 1%; ops are tried in float32 one at a
    time, costliest first, and stay float only if that lowers the drop, or at an equal drop raises the
    output SQNR, until the drop is within the budget) is given. The model is written even when the budget
    is not reached (``reached`` False).
    """
    if (keep_float is None) == (max_drop is None):
        raise ValueError("give exactly one of keep_float and max_drop")
    if keep_float is not None and keep_float < 0:
        raise EdgeqError(f"--keep-float {keep_float}: the number of float ops cannot be negative")
    if max_drop is not None and not (0.0 <= max_drop < 1.0):
        raise EdgeqError(f"--max-drop {100 * max_drop:g}% is not in [0%, 100%)",
                         hint="give the allowed drop as a percentage, e.g. --max-drop 1%")
    s = open_session(model_path, calib, data=data, samples=samples, random_range=random_range,
                     random_count=random_count, per_channel=per_channel, calibration=calibration,
                     progress=progress)
    an = analyze(model_path, calib, session=s, progress=progress)
    order = [r for r in an.ranking if r["keepable"]]
    rows = {r["name"]: r for r in an.layers}
    kept: list[str] = []
    current = an.output
    steps = [dict(_step_row(0, None, None, current, s.quantized()), kept=True)]
    ok = max_drop is None or current["drop"] <= max_drop + 1e-12
    target = min(keep_float, len(order)) if keep_float is not None else len(order)
    for r in order[:target]:
        if max_drop is not None and ok:
            break
        trial = kept + [r["name"]]
        model = s.quantized(trial)
        step = progress(f"trying {len(trial)} float op(s)", s.evalset.count) if progress else None
        ev = s.evaluate(model, step)
        # --keep-float N takes the N costliest ops; the --max-drop search keeps an op float only if that helps
        accept = max_drop is None or ev["drop"] < current["drop"] - 1e-12 or (
            ev["drop"] <= current["drop"] + 1e-12 and ev["sqnr_db"] > current["sqnr_db"])
        steps.append(dict(_step_row(len(trial), rows[r["name"]], r["gain_db"], ev, model), kept=accept))
        if accept:
            kept, current = trial, ev
            ok = max_drop is None or ev["drop"] <= max_drop + 1e-12
    return PartialResult(s.quantized(kept), kept, steps, s.metric, max_drop, ok, an, s)


def _step_row(n: int, layer: dict | None, gain: float | None, ev: dict, model: bytes) -> dict:
    return {"float_ops": n, "added": None if layer is None else layer["name"],
            "kind": None if layer is None else layer["kind"], "op": None if layer is None else layer["op"],
            "gain_db": gain, "sqnr_db": ev["sqnr_db"], "drop": ev.get("drop"),
            "accuracy": ev.get("accuracy"), "float_accuracy": ev.get("float_accuracy"),
            "agreement": ev.get("agreement"), "bytes": len(model)}
