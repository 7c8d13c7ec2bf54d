"""One-op model testing: Keras model -> int8 TFLite -> generated C on the host -> byte equality.

    tfl = assert_bit_exact(model, expect_ops={"CONV_2D"})

converts ``model`` with full-integer quantization, checks that the converted graph contains the ops
the test is about (so a test cannot silently test something else), generates C, and compares every
output byte with LiteRT's reference kernels (rounding "litert") and with TFLM (rounding "tflm") on
random int8 inputs plus quantized calibration samples. On a mismatch it names the first differing op.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from edgeq.api import lower_tflite
from edgeq.codegen.emit import generate
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.files import cache_dir
from edgeq.targets.host import HostModel
from edgeq.quality.compare import ByteCompare, first_mismatching_op
from edgeq.quality.references import TFLM, LiteRT


def _convert(model, calib: list[np.ndarray], per_channel: bool = True, input_type: str = "int8",
             output_type: str = "int8") -> bytes:
    """edgeq's own quantizer (calibration keyed by input name, batch-1 export) on an in-memory model."""
    from edgeq.frontend.load import LoadedModel
    from edgeq.frontend.convert import quantize
    from edgeq.frontend.data import Samples

    loaded = LoadedModel(Path(f"{model.name}.keras"), "keras", model, None, None,
                         [tuple(i.shape[1:]) for i in model.inputs], [np.dtype("float32")] * len(model.inputs),
                         [i.name for i in model.inputs])
    cal = Samples("test", [c.astype(np.float32) for c in calib])
    return quantize(loaded, cal, per_channel=per_channel, input_type=input_type, output_type=output_type)


def tf_function_tflite(f, calib: list[list[np.ndarray]]) -> bytes:
    """Full-int8 TFLite of a ``tf.function`` with a fixed input signature (for ops, flags or batch sizes
    no Keras layer produces), calibrated on ``calib``: samples, each a list with one array per input."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: iter(calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


def int8_tflite(model, calib=None, n_calib: int = 32, seed: int = 0, scale: float = 1.0,
                per_channel: bool = True, input_type: str = "int8", output_type: str = "int8") -> bytes:
    """Quantize a Keras model (batch 1 inputs). ``calib``: list of arrays (N, *shape) per input.
    ``input_type`` / ``output_type``: the model's I/O type ("int8", "uint8" or "float32")."""
    if calib is None:
        rng = np.random.default_rng(seed)
        calib = [(rng.standard_normal((n_calib, *inp.shape[1:])) * scale).astype(np.float32)
                 for inp in model.inputs]
    if isinstance(calib, np.ndarray):
        calib = [calib]
    return _convert(model, calib, per_channel, input_type, output_type)


def random_inputs(model_bytes: bytes, n: int, seed: int = 1) -> list[list[np.ndarray]]:
    g = read_tflite(model_bytes)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sample = []
        for tid in g.inputs:
            t = g.tensor(tid)
            if t.dtype == "float32":
                sample.append(_float_input(g, tid, rng))
                continue
            info = np.iinfo(np.int8 if t.dtype == "int8" else np.int16)
            sample.append(rng.integers(info.min, info.max + 1, t.shape).astype(t.dtype))
        out.append(sample)
    return out


def _float_input(g, tid: int, rng) -> np.ndarray:
    """A float model input: uniform over the range its QUANTIZE can represent (and 10% beyond), with a
    quarter of the values exactly on rounding ties (k + 0.5) * scale or one float step off them."""
    t = g.tensor(tid)
    qt = next((g.tensor(op.outputs[0]) for op in g.ops if op.kind == "QUANTIZE" and op.inputs[0] == tid),
              None)
    if qt is None or qt.quant is None:
        return rng.standard_normal(t.shape).astype(np.float32)
    info = np.iinfo(qt.dtype)
    s, z = np.float32(qt.quant.scale[0]), int(qt.quant.zero_point[0])
    lo, hi = float(s) * (info.min - z), float(s) * (info.max - z)
    x = rng.uniform(lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo), t.shape).astype(np.float32)
    flat = x.reshape(-1)
    idx = rng.choice(flat.size, flat.size // 4, replace=False)
    k = rng.integers(info.min - 1 - z, info.max + 1 - z, idx.size)
    ties = ((k + 0.5) * np.float64(s)).astype(np.float32)
    step = rng.integers(-1, 2, idx.size)
    toward = np.where(step > 0, np.float32(np.inf), np.float32(-np.inf)).astype(np.float32)
    flat[idx] = np.where(step == 0, ties, np.nextafter(ties, toward))
    return x


def compile_host(model_bytes: bytes, rounding: str) -> tuple[object, HostModel]:
    g = lower_tflite(model_bytes, rounding)
    key = hashlib.sha256(model_bytes + rounding.encode()).hexdigest()[:16]
    out = cache_dir() / "gen" / key
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        lib = generate(g, Path(tmp) / "lib")
        return g, HostModel(lib)


def compare(model_bytes: bytes, inputs, rounding: str) -> ByteCompare:
    g, host = compile_host(model_bytes, rounding)
    ref = LiteRT(model_bytes) if rounding == "litert" else TFLM(model_bytes)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(inputs):
        cmp.add(i, host.run(x), ref.run(x))
    if not cmp.bit_exact and rounding == "litert":
        cmp.first_bad_op = first_mismatching_op(g, host, LiteRT(model_bytes, preserve_all=True),
                                                inputs[cmp.first_bad_sample])
    return cmp


def assert_bit_exact(model, *, expect_ops=(), calib=None, n: int = 20, roundings=("litert", "tflm"),
                     model_bytes: bytes | None = None, **convert_kw) -> bytes:
    """The kernel test contract; returns the converted model bytes."""
    tfl = model_bytes if model_bytes is not None else int8_tflite(model, calib, **convert_kw)
    kinds = {op.kind for op in read_tflite(tfl).ops}
    missing = set(expect_ops) - kinds
    assert not missing, f"converted model has ops {sorted(kinds)}, not {sorted(missing)}"
    inputs = random_inputs(tfl, n)
    for r in roundings:
        cmp = compare(tfl, inputs, r)
        assert cmp.bit_exact, (
            f"[{r}] {cmp.exact_samples}/{cmp.samples} samples bit-exact, {cmp.mismatched_bytes} of "
            f"{cmp.total_bytes} bytes differ (max |diff| {cmp.max_abs_diff}); first bad op: {cmp.first_bad_op}"
        )
    return tfl


# --- hand-built models: ops and quantizations the converter does not produce on demand --------------

def build_tflite(tensors: list[dict], ops: list[tuple], inputs: list[int], outputs: list[int]) -> bytes:
    """A .tflite flatbuffer from plain descriptions, for op configurations no Keras layer gives.

    ``tensors``: dicts with ``shape``, ``dtype`` ("int8", "uint8", "int32", "int64", "float32"), and
    optionally ``scale`` / ``zero_point`` (scalars or per-channel lists) and ``data`` (a constant).
    ``ops``: (builtin name, input tensor indices, output tensor indices, options object or None), the
    options being ``schema_py_generated.<Name>OptionsT`` instances.
    """
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as s

    codes: list[str] = []
    buffers = [s.BufferT()]
    ts = []
    for i, d in enumerate(tensors):
        t = s.TensorT()
        t.name = d.get("name", f"t{i}")
        t.shape = np.array(d["shape"], np.int32)
        t.type = getattr(s.TensorType, d["dtype"].upper())
        t.buffer = 0
        if "data" in d:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(d["data"], dtype=d["dtype"]).tobytes(), np.uint8)
            buffers.append(b)
            t.buffer = len(buffers) - 1
        if "scale" in d:
            q = s.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(d["scale"], np.float32))
            q.zeroPoint = np.atleast_1d(np.asarray(d.get("zero_point", 0), np.int64))
            t.quantization = q
        ts.append(t)
    operators = []
    for kind, ins, outs, options in ops:
        if kind not in codes:
            codes.append(kind)
        o = s.OperatorT()
        o.opcodeIndex = codes.index(kind)
        o.inputs = np.array(ins, np.int32)
        o.outputs = np.array(outs, np.int32)
        if options is not None:
            o.builtinOptionsType = getattr(s.BuiltinOptions, type(options).__name__[:-1])
            o.builtinOptions = options
        operators.append(o)
    sg = s.SubGraphT()
    sg.tensors, sg.operators = ts, operators
    sg.inputs, sg.outputs = np.array(inputs, np.int32), np.array(outputs, np.int32)
    sg.name = "main"
    model = s.ModelT()
    model.version = 3
    model.description = "edgeq test model"
    model.subgraphs = [sg]
    model.buffers = buffers
    model.operatorCodes = []
    for kind in codes:
        c = s.OperatorCodeT()
        c.builtinCode = getattr(s.BuiltinOperator, kind)
        c.deprecatedBuiltinCode = min(c.builtinCode, 127)
        c.version = 1
        model.operatorCodes.append(c)
    fb = flatbuffers.Builder(1024)
    fb.Finish(model.Pack(fb), file_identifier=b"TFL3")
    return bytes(fb.Output())


def row_channel_order_is_safe(geo: dict, in_c: int, out_c: int, margin: int, elem: int, chans=None) -> bool:
    """Replay the read/write order of the kernels that write output rows in raster order and, within a row,
    channel by channel (each channel's pixels left to right, each window's valid taps over ``chans(oc)`` input
    channels, all of them by default), elements of ``elem`` bytes, with the output starting ``margin`` bytes
    below the input: True when no output element lands on an input element read later."""
    from edgeq.passes.lower.geometry import tap_range

    def taps(origin, dil, k, n):
        lo, hi = tap_range(np.array(origin), dil, k, n)
        return range(int(lo), int(hi))

    chans = chans or (lambda oc: range(in_c))
    last_read: dict[int, int] = {}
    writes: list[tuple[int, int]] = []
    t = 0
    for b in range(geo["batches"]):
        for oy in range(geo["out_h"]):
            iy0 = oy * geo["stride_h"] - geo["pad_h"]
            for oc in range(out_c):
                for ox in range(geo["out_w"]):
                    ix0 = ox * geo["stride_w"] - geo["pad_w"]
                    for ky in taps(iy0, geo["dilation_h"], geo["k_h"], geo["in_h"]):
                        for kx in taps(ix0, geo["dilation_w"], geo["k_w"], geo["in_w"]):
                            iy, ix = iy0 + ky * geo["dilation_h"], ix0 + kx * geo["dilation_w"]
                            for ic in chans(oc):
                                last_read[((b * geo["in_h"] + iy) * geo["in_w"] + ix) * in_c + ic] = t
                                t += 1
                    writes.append((t, ((b * geo["out_h"] + oy) * geo["out_w"] + ox) * out_c + oc))
                    t += 1
    assert margin % elem == 0
    return all(last_read.get(e - margin // elem, -1) < when for when, e in writes)
