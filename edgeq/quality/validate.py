"""`edgeq validate`: accuracy against the float model, and generated C against the references."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeq.errors import EdgeqError
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.quality.compare import ByteCompare, first_mismatching_op
from edgeq.quality.references import TFLM, LiteRT


@dataclass
class Dataset:
    x: list[np.ndarray]  # one array (N, *shape) per model input
    y: np.ndarray | None = None
    source: str = ""


@dataclass
class ValidationReport:
    model: str
    samples: int = 0
    accuracy: dict = field(default_factory=dict)  # float / int8 / agreement
    fidelity: list[dict] = field(default_factory=list)  # per output: sqnr_db, cosine, max_abs_err
    c_host: dict[str, ByteCompare] = field(default_factory=dict)  # reference name -> comparison
    references_disagree_bytes: int | None = None
    arena: dict = field(default_factory=dict)
    first_bad_op: dict | None = None
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
            "fidelity": self.fidelity,
            "c_host": {k: c.to_json() for k, c in self.c_host.items()},
            "litert_vs_tflm_mismatched_bytes": self.references_disagree_bytes,
            "arena": self.arena,
        }


def load_dataset(path: str | Path, n_inputs: int = 1) -> Dataset:
    p = Path(path)
    if not p.is_file():
        raise EdgeqError(f"{p}: no such data file", hint="pass an .npz with arrays 'x' (and 'y'), or an .npy")
    try:
        if p.suffix == ".npy":
            return Dataset([np.load(p, allow_pickle=False)], None, str(p))
        if p.suffix == ".npz":
            z = np.load(p, allow_pickle=False)
            keys = list(z.keys())
            if "x" in z:
                xs = [z["x"]]
            elif n_inputs > 1 and all(f"x{i}" in z for i in range(n_inputs)):
                xs = [z[f"x{i}"] for i in range(n_inputs)]
            else:
                raise EdgeqError(f"{p} has arrays {keys} but no 'x'",
                                 hint="save the inputs as 'x' and the labels as 'y': np.savez(f, x=x, y=y)")
            return Dataset(xs, z["y"] if "y" in z else None, str(p))
    except (ValueError, OSError) as e:
        raise EdgeqError(f"{p} is not a readable NumPy file: {e}") from None
    raise EdgeqError(f"{p}: unknown data format '{p.suffix}'", hint="use .npz (x, y) or .npy")


def quantize_input(x: np.ndarray, scale: float, zero_point: int, dtype: str) -> np.ndarray:
    """Float -> integer with TFLite's rounding (half away from zero) and saturation."""
    info = np.iinfo(np.dtype(dtype))
    q = np.floor(np.abs(x / np.float32(scale)) + 0.5) * np.sign(x / np.float32(scale))
    return np.clip(q + zero_point, info.min, info.max).astype(dtype)


def _check_shapes(ds: Dataset, g) -> None:
    for i, tid in enumerate(g.inputs):
        t = g.tensor(tid)
        x = ds.x[i]
        if tuple(x.shape[1:]) != tuple(t.shape[1:]):
            raise EdgeqError(
                f"data '{ds.source}' input {i} has samples of shape {tuple(x.shape[1:])}, "
                f"the model input '{t.name}' takes {tuple(t.shape[1:])}",
                hint=f"reshape the data to (N, {', '.join(map(str, t.shape[1:]))})")
    if ds.y is not None and len(ds.y) != len(ds.x[0]):
        raise EdgeqError(f"data '{ds.source}' has {len(ds.x[0])} inputs but {len(ds.y)} labels")


def int8_inputs(model: bytes, ds: Dataset | None, n: int, seed: int = 0) -> list[list[np.ndarray]]:
    """``n`` samples for the model's inputs in their own dtype (int8, uint8, int16 or float32): from the
    data set (float data quantized with the input's scale and zero point for integer inputs, passed
    through for float32 inputs), else random (the full integer range; standard normal floats)."""
    g = read_tflite(model)
    if ds is not None:
        _check_shapes(ds, g)
        n = min(n, len(ds.x[0]))
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        sample = []
        for i, tid in enumerate(g.inputs):
            t = g.tensor(tid)
            if ds is not None:
                x = ds.x[i][k : k + 1]
                if t.dtype == "float32":
                    sample.append(x.astype(np.float32))
                elif x.dtype.kind == "f":
                    sample.append(quantize_input(x.astype(np.float32), t.quant.scale[0], t.quant.zero_point[0],
                                                 t.dtype).reshape(t.shape))
                else:
                    sample.append(x.astype(t.dtype).reshape(t.shape))
            elif t.dtype == "float32":
                sample.append(rng.standard_normal(t.shape).astype(np.float32))
            else:
                info = np.iinfo(np.dtype(t.dtype))
                sample.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
        out.append(sample)
    return out


def dequantize(q: np.ndarray, t) -> np.ndarray:
    if t.quant is None or t.dtype == "float32":
        return q.astype(np.float32)
    return (q.astype(np.float32) - t.quant.zero_point[0]) * np.float32(t.quant.scale[0])


def fidelity(ref: np.ndarray, test: np.ndarray) -> dict:
    ref = ref.astype(np.float64).reshape(len(ref), -1)
    test = test.astype(np.float64).reshape(len(test), -1)
    noise = np.sum((ref - test) ** 2)
    sig = np.sum(ref ** 2)
    sqnr = float("inf") if noise == 0 else float(10 * np.log10(max(sig, 1e-30) / noise))
    num = np.sum(ref * test, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(test, axis=1)
    cos = float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))
    return {"sqnr_db": sqnr, "cosine": cos, "max_abs_err": float(np.max(np.abs(ref - test)))}


def _labels(y: np.ndarray) -> np.ndarray:
    return y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(-1).astype(np.int64)


def validate(model: bytes, *, name: str = "model", keras_model=None, data: Dataset | None = None,
             c_host: bool = False, samples: int = 100, progress=None,
             workdir: str | Path | None = None) -> ValidationReport:
    """Run every check that was asked for; ``progress(description, total)`` returns a step callback."""
    g = read_tflite(model, name=name)
    rep = ValidationReport(model=name)
    litert = LiteRT(model)
    inputs = int8_inputs(model, data, samples)
    rep.samples = len(inputs)
    step = progress("LiteRT reference", len(inputs)) if progress else (lambda: None)
    ref_out = []
    for x in inputs:
        ref_out.append(litert.run(x))
        step()
    rep.inputs, rep.reference_outputs = inputs, ref_out

    # accuracy / fidelity against the float model
    if data is not None:
        outs_t = [g.tensor(t) for t in g.outputs]
        q0 = np.stack([dequantize(o[0], outs_t[0]) for o in ref_out])
        if keras_model is not None:
            xs = [x[: len(inputs)].astype(np.float32) for x in data.x]
            f = keras_model.predict(xs if len(xs) > 1 else xs[0], verbose=0, batch_size=64)
            f = f if isinstance(f, (list, tuple)) else [f]
            for i, t in enumerate(outs_t):
                qi = np.stack([dequantize(o[i], t) for o in ref_out])
                rep.fidelity.append(dict(output=t.name, **fidelity(np.asarray(f[i]), qi)))
        if data.y is not None:
            y = _labels(data.y[: len(inputs)])
            pred_q = q0.reshape(len(q0), -1).argmax(-1)
            rep.accuracy["int8"] = float(np.mean(pred_q == y))
            if keras_model is not None:
                pred_f = np.asarray(f[0]).reshape(len(y), -1).argmax(-1)
                rep.accuracy["float"] = float(np.mean(pred_f == y))
                rep.accuracy["top1_agreement"] = float(np.mean(pred_f == pred_q))

    # generated C on the host against both references
    if c_host:
        from edgeq.api import lower_tflite
        from edgeq.codegen import generate
        from edgeq.targets.host import HostModel

        tflm = TFLM(model)
        tflm_out = []
        step = progress("TFLM reference", len(inputs)) if progress else (lambda: None)
        for x in inputs:
            tflm_out.append(tflm.run(x))
            step()
        rep.references_disagree_bytes = int(sum(
            int(np.sum(a.view(np.uint8) != b.view(np.uint8)))
            for ro, to in zip(ref_out, tflm_out) for a, b in zip(ro, to)))
        rep.arena["tflm"] = tflm.arena_bytes()
        tmp = tempfile.TemporaryDirectory(dir=workdir)
        try:
            for mode, ref_name, expected in (("litert", "litert-ref", ref_out), ("tflm", "tflm", tflm_out)):
                lg = lower_tflite(model, mode, name)
                host = HostModel(generate(lg, Path(tmp.name) / mode))
                rep.arena["edgeq"] = {"arena": lg.plan.size, "lower_bound": lg.plan.lower_bound}
                cmp = ByteCompare(ref_name)
                step = progress(f"C on host vs {ref_name}", len(inputs)) if progress else (lambda: None)
                for k, x in enumerate(inputs):
                    cmp.add(k, host.run(x), expected[k])
                    step()
                if not cmp.ok and mode == "litert":
                    cmp.first_bad_op = first_mismatching_op(lg, host, LiteRT(model, preserve_all=True),
                                                            inputs[cmp.first_bad_sample])
                rep.c_host[mode] = cmp
        finally:
            tmp.cleanup()
    return rep


model_inputs = int8_inputs  # the dtype-general name (int8_inputs is kept for existing callers)
