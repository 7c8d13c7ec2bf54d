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

``scheme="int8x4"`` asks the same of 4-bit weights (:mod:`edgeq.frontend.int4`): the float model is the float
TFLite conversion (the int8x4 model shares its tensor names), the activation ranges are observed once, and
the model compared is int8x4. What an op is "kept" in is then int8 *weights* (the quantizer's ``keep_int8``),
not float32: ``float_sqnr_db`` / ``gain_db`` are the output's SQNR with only this conv / depthwise / dense
given its int8 weights back, and :func:`quantize_partial` gives the most sensitive layers int8 weights,
int4 for the rest. Each row also has ``int8_sqnr_db``, the op's SQNR in the same model with every weight
int8 (the same ranges), and ``int4_cost_db`` = ``int8_sqnr_db - sqnr_db``: what 4-bit weights cost up to
this op.
"""

from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.convert import float_tflite_bytes
from edgeq.frontend.data import Samples, load_calibration, load_dataset, loaded_inputs, match_names, tflite_inputs
from edgeq.frontend.int4 import int8_weight_ops, int8x4_ranges, quantize_int8x4, weighted_ops
from edgeq.frontend.load import load_model
from edgeq.frontend.qat import is_qat_model
from edgeq.frontend.partial import calibrate, float_op_names, model_ops, quantize_calibrated
from edgeq.frontend.tflite.kind import tflite_interpreter
from edgeq.frontend.rnn import needs_rnn_conversion, recurrent_layers
from edgeq.frontend.weights import check_finite_weights
from edgeq.quality.metrics import ErrorStats, accuracy, finite_or_none, top1_agreement
from edgeq.quality.validate import FloatLiteRT

METRICS = {
    "accuracy": "top-1 accuracy on the labelled data; drop = float accuracy - quantized accuracy",
    "agreement": "no labels: top-1 agreement with the float model on the data; drop = share of samples whose "
                 "top-1 class differs from the float model's (an upper bound on the accuracy drop)",
    "nsr": "no labels, not a classifier: drop = output noise-to-signal ratio sum (q - f)^2 / sum f^2 "
           "(1% = an output SQNR of 20 dB)",
}


def _metric_name(evalset: Samples, float_out: list[np.ndarray]) -> str:
    if evalset.labels is not None:
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
    scheme: str = "int8"  # int8: ops kept in float32; int8x4: layers given int8 weights back

    @property
    def ranking(self) -> list[dict]:
        """The quantized ops, costliest first: by single-layer-float gain if measured, else by added_db."""
        key = (lambda r: -(r["gain_db"] if r.get("gain_db") is not None else -math.inf)) if self.single_float \
            else (lambda r: -(r["added_db"] or 0.0))
        return sorted((r for r in self.layers if r["quantized"]), key=key)

    @property
    def metric_description(self) -> str:
        """What ``metric`` measures, in words (see METRICS)."""
        return METRICS[self.metric]

    def to_json(self) -> dict:
        def row(r):
            return {k: finite_or_none(v) for k, v in r.items()}

        return {"model": self.model, "scheme": self.scheme, "calibration": self.calibration,
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
    evalset: Samples  # float inputs and, from --data, labels
    float_out: list[np.ndarray]  # float model's output 0 per sample
    notes: list[str]
    scheme: str = "int8"
    cal: Samples | None = None  # int8x4: the calibration samples and the ranges observed on them, once
    ranges: dict | None = None
    method: str = "minmax"
    _cache: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        return _metric_name(self.evalset, self.float_out)

    def quantized(self, keep_float=()) -> bytes:
        """The model with the ops named in ``keep_float`` kept: in float32 (int8), with int8 weights (int8x4)."""
        key = tuple(sorted(keep_float))
        if key not in self._cache:
            if self.scheme == "int8x4":
                self._cache[key] = quantize_int8x4(self.loaded, self.cal, method=self.method,
                                                   per_channel=self.per_channel, keep_int8=key, ranges=self.ranges)
            else:
                self._cache[key] = quantize_calibrated(self.calibrated, list(key), per_channel=self.per_channel)
        return self._cache[key]

    def keepable(self) -> set[str] | None:
        """The ops that can be kept (int8x4: the conv / depthwise / dense layers); None: any may be tried."""
        return set(weighted_ops(self.calibrated)) if self.scheme == "int8x4" else None

    def kept(self, model: bytes) -> set[str]:
        """The ops of ``model`` that are kept: in float32 (int8), with int8 weights (int8x4)."""
        return int8_weight_ops(model) if self.scheme == "int8x4" else float_op_names(model)

    def evaluate(self, model: bytes, step=None) -> dict:
        """Output SQNR / RMSE against the float model, and the quality metric, on the evaluation samples."""
        m = FloatLiteRT(model)
        outputs, err = [], ErrorStats()
        for k in range(self.evalset.count):
            q = m.run(self.evalset.sample(k))[0].reshape(-1)
            outputs.append(q)
            err.add(self.float_out[k], q)
            if step:
                step()
        return self._quality(np.stack(outputs), err)

    def _quality(self, outputs: np.ndarray, err: ErrorStats) -> dict:
        out = {"sqnr_db": err.sqnr_db, "rmse": err.rmse}
        metric = self.metric
        float_out = np.stack(self.float_out)
        if metric == "accuracy":
            out["float_accuracy"] = accuracy(float_out, self.evalset.labels)
            out["accuracy"] = accuracy(outputs, self.evalset.labels)
            out["drop"] = out["float_accuracy"] - out["accuracy"]
        if metric in ("accuracy", "agreement") and self.float_out[0].size > 1:
            out["agreement"] = top1_agreement(float_out, outputs)
            if metric == "agreement":
                out["drop"] = 1.0 - out["agreement"]
        if metric == "nsr":
            out["drop"] = err.nsr
        return out


def open_session(model_path: str | Path, calib: str, *, data: str | None = None, samples: int = 100,
                 random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
                 calibration: str = "minmax", progress=None, scheme: str = "int8") -> Session:
    """Load and calibrate the float model; pick the evaluation samples (``data``, else the calibration
    samples; at most ``samples``) and run the float model on them. ``scheme`` int8 or int8x4 (see the
    module doc)."""
    if scheme not in ("int8", "int8x4"):
        raise EdgeqError(f"the sensitivity analysis takes --scheme int8 or int8x4, not {scheme}")
    loaded = load_model(model_path)
    if loaded.kind == "tflite":
        raise EdgeqError(f"{model_path} is a TFLite model; the analysis compares the float model with its "
                         "int8 quantization, so it needs the float model",
                         hint="pass the Keras model (.keras/.h5) or SavedModel the .tflite came from")
    if loaded.keras_model is not None:  # as quantize does: the analysis of NaN/Inf weights means nothing
        check_finite_weights(loaded.keras_model, str(model_path))
    if scheme == "int8x4" and loaded.keras_model is not None and is_qat_model(loaded.keras_model):
        raise EdgeqError(f"{model_path} is a quantization-aware-trained model; the int8x4 analysis observes a float "
                         "model's activations",
                         hint="analyze the float model it was trained from, or quantize this one with --scheme "
                              "int8x4 alone (its learned ranges)")
    if needs_rnn_conversion(loaded):  # the plain converter segfaults calibrating them (found by the sweep)
        raise EdgeqError(f"{model_path} has recurrent layers ({', '.join(recurrent_layers(loaded.keras_model))}), "
                         "which the per-layer analysis does not handle yet",
                         hint="quantize it with `edgeq quantize` (recurrent layers are rebuilt for the converter) "
                              "and check the result with `edgeq validate --data ... --keras ...`")
    cal = load_calibration(calib, loaded_inputs(loaded), random_range=random_range, random_count=random_count)
    step = progress("calibrating", cal.count) if progress else None
    ranges = None
    if scheme == "int8x4":  # the float conversion (the int8x4 model's tensor names), the ranges observed once
        calibrated = float_tflite_bytes(loaded)
        ranges = int8x4_ranges(loaded, cal, method=calibration)
    else:
        calibrated = calibrate(loaded, cal, calibration=calibration,
                               progress=(lambda done, total: step()) if step else None)
    notes = list(loaded.notes) + list(cal.notes)
    if data:
        ds = load_dataset(data, loaded_inputs(loaded))
        n = min(samples, ds.count)
        evalset = ds.head(n, f"{data} ({n} samples)")
        notes += list(ds.notes)
    else:
        n = min(samples, cal.count)
        evalset = Samples(f"calibration data {cal.source} ({n} samples)", [x[:n] for x in cal.inputs])
    evalset = _in_tflite_order(evalset, loaded, calibrated)
    fm = FloatLiteRT(calibrated)
    step = progress("float model", evalset.count) if progress else None
    float_out = []
    for k in range(evalset.count):
        float_out.append(fm.run(evalset.sample(k))[0].reshape(-1))
        if step:
            step()
    desc = f"{cal.source} ({cal.count} samples)" + ("" if calibration == "minmax" else f", {calibration}") \
        + ("" if per_channel else ", per-tensor")
    return Session(str(model_path), loaded, calibrated, per_channel, desc,
                   cal.warning, evalset, float_out, notes, scheme, cal, ranges, calibration)


def _in_tflite_order(samples: Samples, loaded, model: bytes) -> Samples:
    """``samples`` (one array per input in the Keras model's order) in the order of the converted model's
    inputs (the converter sorts a multi-input model's signature by name), matched by name."""
    order = match_names([s.name for s in loaded_inputs(loaded)], tflite_inputs(model))
    if order is None or order == sorted(order):
        return samples
    return dataclasses.replace(samples, inputs=[samples.inputs[order.index(j)] for j in range(len(order))])


def analyze(model_path: str | Path, calib: str, *, data: str | None = None, samples: int = 100,
            random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
            calibration: str = "minmax", single_float: bool = True, progress=None,
            session: Session | None = None, scheme: str = "int8") -> Analysis:
    """Per-layer quantization error of a float model (see the module doc); ``progress(description, total)``
    returns a step callback."""
    s = session or open_session(model_path, calib, data=data, samples=samples, random_range=random_range,
                                random_count=random_count, per_channel=per_channel, calibration=calibration,
                                progress=progress, scheme=scheme)
    int8 = s.quantized()
    qm, fm = FloatLiteRT(int8, preserve_all=True), FloatLiteRT(s.calibrated, preserve_all=True)
    # int8x4: the same model with every weight int8 (the same ranges), to tell what the 4 bits cost per op
    wm = FloatLiteRT(s.quantized(sorted(s.keepable())), preserve_all=True) if s.scheme == "int8x4" else None
    float_ops = {op.name: op for op in model_ops(s.calibrated)}
    ops = [op for op in model_ops(int8) if op.name in float_ops and op.kind not in ("QUANTIZE", "DEQUANTIZE")]
    inputs_of = _op_inputs(s.calibrated)
    # the model inputs too: the first ops' "added" error is measured against the input's quantization
    input_names = [d["name"] for d in fm.rt.inputs if d["name"] in qm.tensors]
    tracked = input_names + [op.name for op in ops]
    err = {name: ErrorStats() for name in tracked}
    err8 = {name: ErrorStats() for name in tracked} if wm is not None else {}
    step = progress("per-layer error", s.evalset.count) if progress else None
    for k in range(s.evalset.count):
        x = s.evalset.sample(k)
        qm.run(x)
        fm.run(x)
        if wm is not None:
            wm.run(x)
        for name in tracked:
            err[name].add(fm.tensor(name), qm.tensor(name))
            if wm is not None:
                err8[name].add(fm.tensor(name), wm.tensor(name))
        if step:
            step()
    rows = []
    sqnr = {name: err[name].sqnr_db for name in input_names}
    for op in ops:
        e = err[op.name]
        d = qm.tensors[op.name]
        quant = d["quantization"]
        sqnr[op.name] = e.sqnr_db
        ins = [sqnr[t] for t in inputs_of.get(op.name, []) if t in sqnr]
        worst_in = min(ins) if ins else math.inf
        rows.append({"name": op.name, "kind": op.kind, "op": op.index, "float_op": float_ops[op.name].index,
                     "dtype": np.dtype(d["dtype"]).name, "quantized": np.dtype(d["dtype"]) != np.float32,
                     "sqnr_db": sqnr[op.name], "rmse": e.rmse, "max_abs_err": e.max_abs_err,
                     "scale": float(quant[0]), "zero_point": int(quant[1]),
                     "rmse_lsb": e.rmse / quant[0] if quant[0] else None,
                     "added_db": (worst_in - sqnr[op.name]) if math.isfinite(worst_in) else
                     (None if not math.isfinite(sqnr[op.name]) else 0.0),
                     "keepable": None, "float_sqnr_db": None, "gain_db": None, "float_drop": None})
        if wm is not None:
            rows[-1]["int8_sqnr_db"] = err8[op.name].sqnr_db
            rows[-1]["int4_cost_db"] = err8[op.name].sqnr_db - sqnr[op.name] \
                if math.isfinite(err8[op.name].sqnr_db) and math.isfinite(sqnr[op.name]) else None
    base = s.evaluate(int8)
    result = Analysis(s.path, s.calibration, s.calibration_warning, s.evalset.count, s.evalset.source, s.metric,
                      rows, base, single_float, s.scheme)
    if single_float:
        step = progress("single-layer float" if s.scheme == "int8" else "single-layer int8 weights",
                        len(rows) * s.evalset.count) if progress else None
        candidates = s.keepable()
        for r in rows:
            model = s.quantized([r["name"]]) if candidates is None or r["name"] in candidates else None
            r["keepable"] = model is not None and r["name"] in s.kept(model)
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
    it = tflite_interpreter(model)
    details = {d["index"]: d for d in it.get_tensor_details()}
    produced = {int(d["index"]) for d in it.get_input_details()}
    ops = it.invoke("_get_ops_details")
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
    scheme: str = "int8"  # int8: kept_float ops in float32; int8x4: kept_float layers with int8 weights

    @property
    def metric_description(self) -> str:
        """What ``metric`` measures, in words (see METRICS)."""
        return METRICS[self.metric]

    def to_json(self) -> dict:
        return {"scheme": self.scheme, "kept_float" if self.scheme == "int8" else "kept_int8_weights": self.kept_float,
                "metric": self.metric, "metric_definition": METRICS[self.metric],
                "max_drop": self.max_drop, "reached": self.reached,
                "steps": [{k: finite_or_none(v) for k, v in r.items()} for r in self.steps]}


def quantize_partial(model_path: str | Path, calib: str, *, keep_float: int | None = None,
                     max_drop: float | None = None, data: str | None = None, samples: int = 100,
                     random_range=(-1.0, 1.0), random_count: int = 100, per_channel: bool = True,
                     calibration: str = "minmax", progress=None, scheme: str = "int8") -> PartialResult:
    """int8 model with the most sensitive ops left in float32 (``scheme`` int8x4: int8x4 model with the most
    sensitive conv / depthwise / dense layers given int8 weights; see the module doc).

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
                     progress=progress, scheme=scheme)
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
    return PartialResult(s.quantized(kept), kept, steps, s.metric, max_drop, ok, an, s, s.scheme)


def _step_row(n: int, layer: dict | None, gain: float | None, ev: dict, model: bytes) -> dict:
    return {"float_ops": n, "added": None if layer is None else layer["name"],
            "kind": None if layer is None else layer["kind"], "op": None if layer is None else layer["op"],
            "gain_db": gain, "sqnr_db": ev["sqnr_db"], "drop": ev.get("drop"),
            "accuracy": ev.get("accuracy"), "float_accuracy": ev.get("float_accuracy"),
            "agreement": ev.get("agreement"), "bytes": len(model)}
