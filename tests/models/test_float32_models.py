"""Whole float32 and mixed-precision models in the generated C (issue 4, partial quantization).

* float32: the MLPerf Tiny models converted without quantization (batch 1), on the host against LiteRT's
  reference kernels and TFLM, and on the emulated boards: mps2-an386 (Cortex-M4F, hardware single
  precision) and mps2-an385 (Cortex-M3, soft float through libgcc). float32 outputs must be within the
  tolerance of edgeq.quality.compare (max |diff| <= 1e-5 x max(1, max |ref|)).
* mixed: resnet8 quantized with two convolutions denylisted through TFLite's QuantizationDebugger
  (float CONV_2D between DEQUANTIZE and QUANTIZE, float model input and output): every int8 tensor is
  byte-identical to LiteRT's, float tensors within the tolerance, on the host and on mps2-an386.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np
import pytest

from paths import MLPERF
from edgeq.api import lower_tflite, model_manifest
from edgeq.codegen.emit import generate
from edgeq.frontend.tflite.reader import read_tflite
from edgeq.files import cache_dir
from edgeq.targets.host import HostModel
from edgeq.quality.compare import FLOAT_RTOL, ByteCompare, float_error
from edgeq.quality.references import TFLM, LiteRT

pytestmark = pytest.mark.slow


def _cached(key: str, make) -> bytes:
    path = cache_dir() / "tflite" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".tflite")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{id(make)}")
        tmp.write_bytes(make())
        tmp.rename(path)
    return path.read_bytes()


def _float_model(name: str) -> bytes:
    from edgeq.frontend.load import load_model
    from edgeq.frontend.convert import float_tflite_bytes

    src = MLPERF / name
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    return _cached(f"float32:{digest}", lambda: float_tflite_bytes(load_model(src)))


def _mixed_resnet8() -> bytes:
    """resnet8 int8 with its 3rd and 4th CONV_2D kept in float32 (QuantizationDebugger denylist)."""
    src = MLPERF / "resnet8.h5"

    def make() -> bytes:
        import tensorflow as tf

        from edgeq.frontend.load import load_model
        from edgeq.frontend.convert import export_batch1

        rng = np.random.default_rng(0)
        calib = [rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32) for _ in range(16)]
        with tempfile.TemporaryDirectory() as tmp:
            export_batch1(load_model(src), Path(tmp) / "sm")

            def converter():
                c = tf.lite.TFLiteConverter.from_saved_model(str(Path(tmp) / "sm"))
                c.optimizations = [tf.lite.Optimize.DEFAULT]
                c.representative_dataset = lambda: ([x] for x in calib)
                c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                return c

            g = read_tflite(converter().convert())
            deny = [g.tensor(op.outputs[0]).name for op in g.ops if op.kind == "CONV_2D"][2:4]
            dbg = tf.lite.experimental.QuantizationDebugger(
                converter=converter(), debug_dataset=lambda: ([x] for x in calib[:2]),
                debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=deny))
            return dbg.get_nondebug_quantized_model()

    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    return _cached(f"mixed-resnet8-conv2,3:{digest}", make)


def _inputs(model: bytes, n: int, lo: float, hi: float, seed: int = 0) -> list[list[np.ndarray]]:
    g = read_tflite(model)
    rng = np.random.default_rng(seed)
    return [[rng.uniform(lo, hi, g.tensor(t).shape).astype(np.float32) for t in g.inputs] for _ in range(n)]


def _host(model: bytes, rounding: str) -> tuple[object, HostModel]:
    g = lower_tflite(model, rounding)
    d = cache_dir() / "gen"
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=d) as tmp:
        return g, HostModel(generate(g, Path(tmp) / "lib"))


def _compare(model: bytes, inputs, rounding: str) -> ByteCompare:
    _, host = _host(model, rounding)
    ref = LiteRT(model) if rounding == "litert" else TFLM(model)
    cmp = ByteCompare(ref.name)
    for i, x in enumerate(inputs):
        cmp.add(i, host.run(x), ref.run(x))
    return cmp


@pytest.mark.parametrize("name,lo,hi", [("resnet8.h5", 0.0, 255.0), ("kws_dscnn.keras", -123.0, 26.0),
                                        ("ad01.h5", -5.0, 5.0)])
def test_float32_mlperf_models_on_host(name, lo, hi):
    tfl = _float_model(name)
    g = read_tflite(tfl)
    assert all(t.dtype != "int8" for t in g.tensors), "not a float model"
    inputs = _inputs(tfl, 8, lo, hi)
    for rounding in ("litert", "tflm"):
        cmp = _compare(tfl, inputs, rounding)
        assert cmp.ok and cmp.float_outputs == 1, (rounding, cmp.float_summary())
        assert cmp.float_max_rel_diff <= FLOAT_RTOL


def test_mixed_resnet8_on_host_int8_parts_bit_exact():
    tfl = _mixed_resnet8()
    g = read_tflite(tfl)
    kinds = [(op.kind, g.tensor(op.outputs[0]).dtype) for op in g.ops]
    assert kinds.count(("CONV_2D", "float32")) == 2 and ("CONV_2D", "int8") in kinds
    assert g.tensor(g.inputs[0]).dtype == "float32" and g.tensor(g.outputs[0]).dtype == "float32"
    inputs = _inputs(tfl, 6, 0.0, 255.0)
    # every intermediate tensor: int8 byte-identical, float32 within tolerance
    lg, host = _host(tfl, "litert")
    ref = LiteRT(tfl, preserve_all=True)
    checked = {"int8": 0, "float32": 0}
    for x in inputs:
        ref.run(x)
        _, traced = host.trace(x)
        for op in lg.ops:
            if op.lowered is None:
                continue
            t = lg.tensor(op.lowered.args[-1])
            want = np.ascontiguousarray(ref.tensor(t.id)).reshape(-1)
            got = np.frombuffer(traced[op.id], want.dtype)
            if t.dtype == "float32":
                assert float_error(got, want)[1] <= FLOAT_RTOL, (op.id, op.kind, float_error(got, want))
            else:
                assert got.tobytes() == want.tobytes(), (op.id, op.kind, t.dtype)
            checked[t.dtype] = checked.get(t.dtype, 0) + 1
    assert checked["int8"] > 0 and checked["float32"] > 0
    for rounding in ("litert", "tflm"):
        cmp = _compare(tfl, inputs, rounding)
        assert cmp.ok, (rounding, cmp.float_summary())


def _on_board(model: bytes, board_name: str, inputs, out: Path) -> tuple[ByteCompare, dict]:
    from edgeq.targets.bench import run_device
    from edgeq.targets.select import target_for
    from edgeq.targets.protocol import open_device
    from edgeq.targets.boards import load_board

    board = load_board(board_name)
    g = lower_tflite(model, "litert", "model", "dsp" if board.cpu.dsp else "portable")
    lib = generate(g, out / "model", prefix="model", manifest=model_manifest(model, g, "litert"))
    target = target_for(board)
    build = target.build(lib.dir, out / "fw")
    with target.session(build.elf) as port, open_device(port, timeout=5.0, invoke_timeout=300.0) as dev:
        run = run_device(dev, sha256=build.model_sha256, inputs=inputs, runs=0, profile=False)
    ref = LiteRT(model)
    cmp = ByteCompare("litert-ref")
    for k, (got, x) in enumerate(zip(run.outputs, inputs)):
        want = ref.run(x)
        cmp.add(k, [np.frombuffer(b, w.dtype) for b, w in zip(got, want)], want)
    return cmp, build.memory


@pytest.mark.parametrize("name,board,lo,hi", [("kws_dscnn.keras", "mps2-an386", -123.0, 26.0),
                                              ("ad01.h5", "mps2-an385", -5.0, 5.0)])
def test_float32_model_on_board(name, board, lo, hi, tmp_path):
    """Hardware single precision (M4F, -mfloat-abi=hard) and soft float (M3, libgcc)."""
    tfl = _float_model(name)
    cmp, mem = _on_board(tfl, board, _inputs(tfl, 3, lo, hi), tmp_path)
    assert cmp.samples == 3 and cmp.ok, cmp.float_summary()
    assert mem.arena_bytes % 4 == 0


def test_mixed_resnet8_on_board(tmp_path):
    tfl = _mixed_resnet8()
    cmp, _ = _on_board(tfl, "mps2-an386", _inputs(tfl, 2, 0.0, 255.0), tmp_path)
    # the model output is DEQUANTIZE of the int8 softmax: exact when every integer op is
    assert cmp.samples == 2 and cmp.ok and cmp.bit_exact, cmp.float_summary()


@pytest.mark.parametrize("which", ["float32", "mixed"])
def test_memory_plan_with_4_byte_tensors(which):
    """float32 tensors sit on 4-byte boundaries; an op's output overlaps one of its inputs only where the
    kernel allows it (same dtype and size for in-place elementwise ops, the raster margin for window
    kernels), so QUANTIZE / DEQUANTIZE never write over their input of another element size."""
    tfl = _float_model("resnet8.h5") if which == "float32" else _mixed_resnet8()
    g = lower_tflite(tfl, "litert")
    offs = g.plan.offsets
    floats = [t for t in g.tensors if t.dtype == "float32" and t.id in offs]
    assert floats and all(offs[t.id] % 4 == 0 for t in floats)
    overlaps = 0
    for op in g.ops:
        low = op.lowered
        if low is None:
            continue
        y = g.tensor(low.args[-1])
        for tid in (t for t in op.inputs if t >= 0 and t in offs and not g.tensor(t).is_const):
            x = g.tensor(tid)
            if offs[tid] < offs[y.id] + y.nbytes and offs[y.id] < offs[tid] + x.nbytes:
                overlaps += 1
                same = x.dtype == y.dtype and x.nbytes == y.nbytes
                margin_ok = low.overlap_margin is not None and offs[y.id] <= offs[tid] - low.overlap_margin
                assert (low.inplace and same) or (margin_ok and x.dtype == y.dtype), (op.id, op.kind)
    assert overlaps > 0  # the planner does share memory in these models


def _tiny_mixed() -> bytes:
    """A small conv net (float I/O) with its middle convolution and the softmax kept in float32."""

    def make() -> bytes:
        import tensorflow as tf

        rng = np.random.default_rng(1)
        tf.keras.utils.set_random_seed(1)
        inp = tf.keras.Input((12, 12, 3), batch_size=1)
        x = tf.keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        x = tf.keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
        x = tf.keras.layers.Conv2D(8, 1, activation="relu")(x)
        x = tf.keras.layers.AveragePooling2D(2)(x)
        x = tf.keras.layers.Reshape((6 * 6 * 8,))(x)
        out = tf.keras.layers.Softmax()(tf.keras.layers.Dense(5)(x))
        model = tf.keras.Model(inp, out)
        calib = [rng.uniform(-1, 1, (1, 12, 12, 3)).astype(np.float32) for _ in range(8)]

        def converter():
            c = tf.lite.TFLiteConverter.from_keras_model(model)
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            c.representative_dataset = lambda: ([x] for x in calib)
            c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            return c

        g = read_tflite(converter().convert())
        deny = [g.tensor(op.outputs[0]).name for op in g.ops if op.kind in ("DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
        dbg = tf.lite.experimental.QuantizationDebugger(
            converter=converter(), debug_dataset=lambda: ([x] for x in calib[:2]),
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=deny))
        return dbg.get_nondebug_quantized_model()

    return _cached("tiny-mixed-v1", make)


def test_convert_and_flash_mixed_model_soft_float(tmp_path):
    """The whole flow on a mixed .tflite (float I/O, float DEPTHWISE_CONV_2D and FULLY_CONNECTED between
    DEQUANTIZE / QUANTIZE) on the Cortex-M3 (soft float): the report states the float32 comparison."""
    from edgeq.flows.convert_and_flash import convert_and_flash

    tfl = _tiny_mixed()
    g = read_tflite(tfl)
    kinds = {(op.kind, g.tensor(op.outputs[0]).dtype) for op in g.ops}
    assert {("DEPTHWISE_CONV_2D", "float32"), ("FULLY_CONNECTED", "float32"), ("CONV_2D", "int8")} <= kinds
    path = tmp_path / "tiny_mixed.tflite"
    path.write_bytes(tfl)
    res = convert_and_flash(path, board_name="mps2-an385", samples=4, runs=1, out_dir=tmp_path / "out")
    v = res.report["validation"]
    assert res.ok and v["ok"] and v["samples"] == 4, v
    assert v["float32"]["within_tolerance"] and v["float32"]["max_abs_diff"] <= 1e-5, v
