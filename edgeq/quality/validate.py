"""`edgeq validate`: accuracy against the float model, and generated C against the references."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.frontend.data import Samples, check_samples, match_names, random_token_ids, tflite_inputs
from edgeq.frontend.int4 import tflm_refusal
from edgeq import isolation
from edgeq.codegen.emit import generate
from edgeq.errors import UnsupportedOpsError
from edgeq.frontend.load import load_model
from edgeq.frontend.runtime import quiet_tf
from edgeq.frontend.state import pair_state, user_inputs
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.ir import Graph
from edgeq.passes.lower.int8.quantize import LITERT_SINGLE_ROUNDING, requantize_table
from edgeq.passes.pipeline import lower_tflite
from edgeq.quality.compare import ByteCompare, first_mismatching_op
from edgeq.quality.metrics import ErrorStats, accuracy, cosine_similarity, finite_or_none, top1_agreement
from edgeq.quality.op_coverage import tflm_builtins
from edgeq.quality.references import TFLM, LiteRT
from edgeq.targets.host import HostModel


@dataclass
class ValidationReport:
    model: str
    samples: int = 0
    accuracy: dict = field(default_factory=dict)  # float / int8 / agreement
    fidelity: list[dict] = field(default_factory=list)  # per output: sqnr_db, cosine, max_abs_err
    c_host: dict[str, ByteCompare] = field(default_factory=dict)  # reference name -> comparison
    # --rounding modes the generated C cannot take for this model (mode -> why): TFLM's own kernels for
    # ops edgeq matches only in LiteRT's arithmetic (the int8 LSTM)
    c_host_skipped: dict[str, str] = field(default_factory=dict)
    references_disagree_bytes: int | None = None
    arena: dict = field(default_factory=dict)
    first_bad_op: dict | None = None
    # the model's state inputs fed back across invokes: the samples were the frames of one sequence
    states: list[str] = field(default_factory=list)
    # the integer inputs that were run and LiteRT's outputs for them (not part of the JSON report)
    inputs: list = field(default_factory=list, repr=False)
    reference_outputs: list = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        """Integer outputs bit-exact and float32 outputs within tolerance, against every reference."""
        return all(c.ok for c in self.c_host.values())

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "fidelity": [{k: finite_or_none(v) for k, v in f.items()} for f in self.fidelity],
            "c_host": {k: c.to_json() for k, c in self.c_host.items()},
            "c_host_skipped": self.c_host_skipped,
            "litert_vs_tflm_mismatched_bytes": self.references_disagree_bytes,
            "arena": self.arena,
            "states": self.states,
        }


def quantize_input(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Float -> integer with TFLite's rounding (half away from zero) and saturation."""
    info = np.iinfo(np.dtype(dtype))
    q = np.floor(np.abs(x / np.float32(scale)) + 0.5) * np.sign(x / np.float32(scale))
    return np.clip(q + zero_point, info.min, info.max).astype(dtype)


def model_inputs(model: bytes, ds: Samples | None, n: int, seed: int = 0,
                 state: tuple[str, ...] | None = None) -> list[list[np.ndarray]]:
    """``n`` samples for the model's inputs in their own dtype (int8, uint8, int16 or float32): from the
    data set (float data quantized with the input's scale and zero point for integer inputs, passed
    through for float32 inputs), else random (the full integer range; standard normal floats; token ids
    uniform over the table they index). For a model with state (``state``: IN:OUT pairs, None to pair by
    name, see frontend.state) only the user inputs, the samples being the frames of one sequence in order."""
    g = pair_state(read_tflite(model), state)
    user = user_inputs(g)
    vocab = [spec.vocab for spec in tflite_inputs(model)]
    vocab = [vocab[j] for j in user]
    if ds is not None:
        specs = tflite_inputs(model)
        check_samples(ds, [specs[k] for k in user])
        n = min(n, ds.count)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        sample = []
        for i, tid in enumerate(g.inputs[j] for j in user):
            t = g.tensor(tid)
            if ds is not None:
                x = ds.inputs[i][k : k + 1]
                if t.dtype == "float32":
                    sample.append(x.astype(np.float32))
                elif x.dtype.kind == "f":
                    sample.append(quantize_input(x.astype(np.float32), t.quant.scale[0], t.quant.zero_point[0],
                                                 t.dtype).reshape(t.shape))
                else:
                    sample.append(x.astype(t.dtype).reshape(t.shape))
            elif vocab[i] is not None:
                sample.append(random_token_ids(rng, vocab[i], t.shape, np.dtype(t.dtype)))
            elif t.dtype == "float32":
                sample.append(rng.standard_normal(t.shape).astype(np.float32))
            else:
                info = np.iinfo(np.dtype(t.dtype))
                sample.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
        out.append(sample)
    return out


class SequenceReference:
    """A reference (LiteRT, TFLM: ``run(inputs) -> outputs`` over every model input and output) run frame
    by frame the way the generated C of a model with state runs: the user gives the inputs that are not
    state and gets the outputs that are not state; each state input gets the bytes of its output of the
    previous frame, requantized to the input's scale and zero point as LiteRT's QUANTIZE op does
    (``reference_ops::Requantize``, the table measured bit-exact in tests/kernels/test_quantize.py; the
    very bytes when the pair shares scale and zero point), and its zero point after :meth:`reset`.
    ``g``: the model's graph with its state paired (``frontend.state.pair_state``)."""

    def __init__(self, ref, g: Graph):
        self.ref, self.g = ref, g
        self.name = getattr(ref, "name", "reference")
        pos = {tid: k for k, tid in enumerate(g.inputs)}
        self.state_pos = [pos[p.input] for p in g.state]
        self.user_pos = [k for k in range(len(g.inputs)) if k not in self.state_pos]
        outs = list(range(len(g.outputs)))
        self.from_pos = []
        for p in g.state:  # the first position of each state output, as passes.graph.state removes it
            k = next(k for k in outs if g.outputs[k] == p.output)
            outs.remove(k)
            self.from_pos.append(k)
        self.out_pos = outs
        self.tables = []
        for p in g.state:
            i, o = g.tensor(p.input), g.tensor(p.output)
            self.tables.append(requantize_table(o.dtype, o.quant.scale[0], o.quant.zero_point[0], i.dtype,
                                                i.quant.scale[0], i.quant.zero_point[0],
                                                single=LITERT_SINGLE_ROUNDING).view(np.dtype(i.dtype)))
        self.reset()

    def reset(self) -> None:
        self.state = [np.full(self.g.tensor(p.input).shape, self.g.tensor(p.input).quant.zero_point[0],
                              np.dtype(self.g.tensor(p.input).dtype)) for p in self.g.state]

    def run(self, inputs) -> list[np.ndarray]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        full: list = [None] * len(self.g.inputs)
        for k, x in zip(self.user_pos, inputs):
            full[k] = x
        for k, s in zip(self.state_pos, self.state):
            full[k] = s
        outs = self.ref.run(full)
        self.state = [table[outs[k].view(np.uint8)].reshape(s.shape)
                      for k, table, s in zip(self.from_pos, self.tables, self.state)]
        return [outs[k] for k in self.out_pos]

    def tensor(self, index: int) -> np.ndarray:
        """A tensor of the last frame (the reference built with ``preserve_all`` for intermediates)."""
        return self.ref.tensor(index)


def sequence_first_mismatch(lg: Graph, host, model: bytes, frames: list, k: int) -> dict | None:
    """:func:`first_mismatching_op` in frame ``k`` of a sequence: frames 0..k-1 run first from the reset
    state in the generated C (``host``) and in LiteRT (fed back, every tensor kept); the calls feeding the
    state back are not compared (their output is the next frame's state, LiteRT's tensor this frame's)."""
    ref = SequenceReference(LiteRT(model, preserve_all=True), dataclasses.replace(read_tflite(model), state=lg.state))
    host.reset_state()
    for x in frames[:k]:
        ref.run(x)
        host.run(x)
    fed = {p.input for p in lg.state}
    ops = tuple(op for op in lg.ops if not set(op.outputs) & fed)
    return first_mismatching_op(dataclasses.replace(lg, ops=ops), host, ref, frames[k])


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer -> float64: ``(q - zero_point) * scale``."""
    return (q.astype(np.float64) - zero_point) * scale


def _as_real(q: np.ndarray, t) -> np.ndarray:
    """An output of tensor ``t`` as real numbers (integer tensors dequantized)."""
    if t.quant is None or t.dtype == "float32":
        return q.astype(np.float64)
    return dequantize(q, t.quant.scale[0], t.quant.zero_point[0])


class FloatLiteRT:
    """A TFLite model in LiteRT (reference kernels) seen as a float model: float inputs in (quantized as
    each integer input needs; an integer input without quantization, token ids, takes the values), float64 outputs out (dequantized), and with ``preserve_all`` every
    intermediate tensor by name (:meth:`tensor`)."""

    def __init__(self, model: bytes, preserve_all: bool = False):
        self.rt = LiteRT(model, preserve_all=preserve_all)
        self.interp = self.rt.interp
        self.tensors = {d["name"]: d for d in self.interp.get_tensor_details()}

    def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """One sample: one float array per model input; the float outputs."""
        feed = []
        for d, x in zip(self.rt.inputs, xs):
            x = np.asarray(x, np.float32).reshape(d["shape"])
            if np.dtype(d["dtype"]) != np.float32:
                scale, zp = d["quantization"]
                if scale == 0:  # not quantized (token ids, indices): the values themselves, rounded
                    info = np.iinfo(np.dtype(d["dtype"]))
                    x = np.clip(np.rint(x), info.min, info.max).astype(d["dtype"])
                else:
                    x = quantize_input(x, scale, zp, np.dtype(d["dtype"]).name)
            feed.append(x)
        self.rt.run(feed)
        return [self._real(d) for d in self.rt.outputs]

    def run_all(self, xs: list[np.ndarray], step=None) -> list[np.ndarray]:
        """Every sample of ``xs`` (one ``(N, ...)`` float array per model input): one ``(N, size)`` float64
        array per model output; ``step()`` is called after each sample."""
        outs: list[list[np.ndarray]] = [[] for _ in self.rt.outputs]
        for k in range(int(xs[0].shape[0])):
            for i, o in enumerate(self.run([x[k : k + 1] for x in xs])):
                outs[i].append(o.reshape(-1))
            if step is not None:
                step()
        return [np.stack(o) for o in outs]

    def tensor(self, name: str) -> np.ndarray:
        """The float value of a tensor after the last run (needs ``preserve_all`` for intermediates)."""
        return self._real(self.tensors[name])

    def _real(self, d) -> np.ndarray:
        v = self.interp.get_tensor(d["index"])
        if np.dtype(d["dtype"]) == np.float32:
            return v.astype(np.float64)
        scale, zp = d["quantization"]
        return dequantize(v, scale, zp)


def keras_outputs(keras_file: Path, model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
    """The outputs of the float Keras model in ``keras_file`` on ``inputs`` (the data for the TFLite
    ``model``'s inputs, matched to the Keras inputs by name), or None if the file holds no Keras model (a
    SavedModel). TensorFlow runs in edgeq's worker (:func:`edgeq.isolation.call`)."""
    return isolation.call("edgeq.quality.validate:keras_outputs_here", str(keras_file), bytes(model), inputs,
                          stage=f"the float model's run of {keras_file}", tool="TensorFlow")


def keras_outputs_here(keras_file: str, model: bytes, inputs: list[np.ndarray]) -> list[np.ndarray] | None:
    """:func:`keras_outputs` in this process (the worker)."""
    keras_model = load_model(keras_file).keras_model
    if keras_model is None:
        return None
    order = match_names([i.name for i in keras_model.inputs], tflite_inputs(model))
    xs = [inputs[j].astype(np.float32) for j in (order or range(len(inputs)))]
    with quiet_tf():
        f = keras_model.predict(xs if len(xs) > 1 else xs[0], verbose=0, batch_size=64)
    return [np.asarray(o) for o in (f if isinstance(f, (list, tuple)) else [f])]


def validate(model: bytes, *, name: str = "model", keras_file: Path | None = None, data: Samples | None = None,
             c_host: bool = False, samples: int = 100, progress=None,
             workdir: str | Path | None = None, state: tuple[str, ...] | None = None) -> ValidationReport:
    """Run every check that was asked for; ``progress(description, total)`` returns a step callback.

    A model with state (``state``: IN:OUT pairs, None to pair by name, see frontend.state) is run as one
    sequence: the samples are its frames in order, from the reset state, in the references (fed back as
    :class:`SequenceReference` does) and in the generated C (``model_reset_state()`` once, then frame
    after frame); every frame's outputs are compared. Accuracy against the float model is not measured
    for such a model (the float model would need the same feedback)."""
    g = pair_state(read_tflite(model, name=name), state)
    rep = ValidationReport(model=name)
    rep.states = [p.name for p in g.state]
    sequence = bool(g.state)
    litert = SequenceReference(LiteRT(model), g) if sequence else LiteRT(model)
    inputs = model_inputs(model, data, samples, state=state)
    rep.samples = len(inputs)
    step = progress("LiteRT reference", len(inputs)) if progress else (lambda: None)
    ref_out = []
    for x in inputs:
        ref_out.append(litert.run(x))
        step()
    rep.inputs, rep.reference_outputs = inputs, ref_out

    # accuracy / fidelity against the float model
    if data is not None and not sequence:
        outs_t = [g.tensor(t) for t in g.outputs]
        q = [np.stack([_as_real(o[i], t) for o in ref_out]) for i, t in enumerate(outs_t)]
        f = keras_outputs(Path(keras_file), model, [x[: len(inputs)] for x in data.inputs]) if keras_file else None
        if f is not None:
            for i, t in enumerate(outs_t):
                err = ErrorStats.of(f[i], q[i])
                rep.fidelity.append({"output": t.name, "sqnr_db": err.sqnr_db,
                                     "cosine": cosine_similarity(f[i], q[i]), "max_abs_err": err.max_abs_err})
        if data.labels is not None:
            y = data.labels[: len(inputs)]
            rep.accuracy["quantized"] = accuracy(q[0], y)
            if f is not None:
                rep.accuracy["float"] = accuracy(f[0], y)
                rep.accuracy["top1_agreement"] = top1_agreement(f[0], q[0])

    # generated C on the host against both references
    if c_host:
        tflm_out = None
        lacking = sorted({op.kind for op in g.ops} - set(tflm_builtins()))
        per_channel_dequantize = any(op.kind == "DEQUANTIZE" and g.tensor(op.inputs[0]).quant is not None
                                     and g.tensor(op.inputs[0]).quant.per_channel for op in g.ops)
        if lacking:  # TFLM could not load the model: compare with LiteRT only
            rep.c_host_skipped["tflm"] = f"TFLite Micro registers no {', '.join(lacking)}"
        elif per_channel_dequantize:  # weight-only int8 per channel: TFLM would compute other weights
            rep.c_host_skipped["tflm"] = ("TFLite Micro's DEQUANTIZE takes one scale per tensor, not the per-channel "
                                          "scales of this model's int8 weights")
        elif tflm_refusal(g):  # int8x4: an int4 layout TFLM does not take
            rep.c_host_skipped["tflm"] = tflm_refusal(g)
        else:
            tflm = SequenceReference(TFLM(model), g) if sequence else TFLM(model)
            tflm_out = []
            step = progress("TFLM reference", len(inputs)) if progress else (lambda: None)
            for x in inputs:
                tflm_out.append(tflm.run(x))
                step()
            rep.references_disagree_bytes = int(sum(
                int(np.sum(a.view(np.uint8) != b.view(np.uint8)))
                for ro, to in zip(ref_out, tflm_out) for a, b in zip(ro, to)))
            rep.arena["tflm"] = (tflm.ref if sequence else tflm).arena_bytes()
        tmp = tempfile.TemporaryDirectory(dir=workdir)
        try:
            for mode, ref_name, expected in (("litert", "litert-ref", ref_out), ("tflm", "tflm", tflm_out)):
                if expected is None:
                    continue
                try:
                    lg = lower_tflite(model, mode, name, state=state)
                except UnsupportedOpsError as e:
                    if mode == "litert":
                        raise
                    rep.c_host_skipped[mode] = "; ".join(o.describe() for o in e.ops)
                    continue
                host = HostModel(generate(lg, Path(tmp.name) / mode))
                rep.arena["edgeq"] = {"arena": lg.plan.size, "lower_bound": lg.plan.lower_bound,
                                      "state": lg.plan.state_size}
                cmp = ByteCompare(ref_name)
                step = progress(f"C on host vs {ref_name}", len(inputs)) if progress else (lambda: None)
                host.reset_state()
                for k, x in enumerate(inputs):
                    cmp.add(k, host.run(x), expected[k])
                    step()
                if not cmp.ok and mode == "litert" and sequence:
                    cmp.first_bad_op = sequence_first_mismatch(lg, host, model, inputs, cmp.first_bad_sample)
                elif not cmp.ok and mode == "litert":
                    cmp.first_bad_op = first_mismatching_op(lg, host, LiteRT(model, preserve_all=True),
                                                            inputs[cmp.first_bad_sample])
                rep.c_host[mode] = cmp
        finally:
            tmp.cleanup()
    return rep

